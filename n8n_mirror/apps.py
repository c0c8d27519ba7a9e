from django.apps import AppConfig


class N8nMirrorConfig(AppConfig):
    """Mirrors n8n executions into Flowtower through monitoring.ingest."""

    name = "n8n_mirror"
    verbose_name = "n8n mirror"

    def ready(self):
        # A deleted instance's hook token is revoked with it, however it is deleted.
        from django.db.models.signals import post_delete

        from .hook_tokens import revoke_hook_token
        from .models import N8nInstance

        post_delete.connect(revoke_hook_token, sender=N8nInstance, dispatch_uid="n8n_revoke_hook_token")
        from . import metrics

        metrics.register()  # sync lag and failing instances, read at scrape time

        from . import health_check

        health_check.register()  # the instances' sync state in /healthz
