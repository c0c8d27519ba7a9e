"""Celery task: the beat runs it every few seconds; it syncs each enabled instance whose own
interval has passed. Thin wrapper over n8n_mirror.sync."""

import logging

from celery import shared_task
from django.utils import timezone

from .models import N8nInstance
from .sync import sync_instance

log = logging.getLogger(__name__)


def _claim(instance, now):
    """Take the instance for this run unless another worker took it since it was read: a
    conditional UPDATE, so two overlapping beats never sync one instance twice at once."""
    return N8nInstance.objects.filter(pk=instance.pk, last_run_at=instance.last_run_at).update(last_run_at=now) == 1


def sync_due(now=None):
    """Sync every due instance; returns {instance name: executions written or the error}."""
    now = now or timezone.now()
    outcome = {}
    for instance in N8nInstance.objects.filter(enabled=True).select_related("team"):
        if not instance.is_due(now) or not _claim(instance, now):
            continue
        try:
            result = sync_instance(instance)
            outcome[str(instance)] = result.error or result.executions
        except Exception as exc:  # noqa: BLE001 - one broken instance must not stop the others
            log.exception("n8n instance %s: sync failed", instance)
            message = f"Flowtower could not write what it read: {type(exc).__name__}: {exc}"[:2000]
            N8nInstance.objects.filter(pk=instance.pk).update(last_error=message, last_error_at=timezone.now())
            outcome[str(instance)] = message
    return outcome


@shared_task(name="n8n_mirror.tasks.sync_due_instances")
def sync_due_instances():
    return sync_due()
