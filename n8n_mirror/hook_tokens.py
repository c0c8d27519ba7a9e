"""The token n8n's external hook posts with: one per instance, `N8nInstance.hook_token`, the only
token the hook's endpoint accepts for that instance. A new one revokes the one before it, so
replacing a leaked token is one step (manage.py add_n8n_instance --hook-token, the n8n page,
Django admin all call `new_hook_token`)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.api import token_cache  # revoked at once, in every process's token cache
from monitoring.models import ServiceToken

from .models import N8nInstance

# Where n8n finds the hook file: a copy of n8n_mirror/hooks/flowtower-hooks.js on n8n's machine.
HOOK_FILE_EXAMPLE = "/opt/flowtower/flowtower-hooks.js"


def hook_token_name(instance):
    return f"n8n hook: {instance.name}"[:100]


def new_hook_token(instance, created_by=None):
    """Revoke the instance's hook token (if any) and store a new one; returns the raw token, which
    exists only in this answer (only its hash is kept). The instance row is locked meanwhile, so
    two at once cannot leave two live hook tokens."""
    with transaction.atomic():
        locked = N8nInstance.objects.select_for_update().get(pk=instance.pk)
        if locked.hook_token_id:
            token_cache.revoke(ServiceToken.objects.filter(pk=locked.hook_token_id))
        token, raw = ServiceToken.issue(locked.team, hook_token_name(locked), created_by=created_by)
        N8nInstance.objects.filter(pk=locked.pk).update(hook_token=token, updated_at=timezone.now())
    instance.hook_token = token
    return raw


def revoke_hook_token(sender, instance, **kwargs):
    """post_delete of an N8nInstance (connected in apps.py): its hook token is a service token of
    the team, and would otherwise outlive the only thing it was made for."""
    if instance.hook_token_id:
        token_cache.revoke(ServiceToken.objects.filter(pk=instance.hook_token_id))


def hook_url(instance):
    """FLOWTOWER_URL for n8n: the instance's endpoint under this install's FLOWTOWER_BASE_URL."""
    return f"{settings.FLOWTOWER_BASE_URL}/api/v1/integrations/n8n/{instance.pk}/executions-finished"


def hook_environment(instance, raw):
    """The three lines n8n's environment needs (docs/n8n-mirror.md, "Syncing within seconds")."""
    return [f"EXTERNAL_HOOK_FILES={HOOK_FILE_EXAMPLE}",
            f"FLOWTOWER_URL={hook_url(instance)}",
            f"FLOWTOWER_HOOK_TOKEN={raw}"]
