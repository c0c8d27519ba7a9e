"""The n8n mirror's part of /healthz: how many enabled instances are failing to sync.

Registered in monitoring's health registry from N8nMirrorConfig.ready (monitoring never imports
n8n_mirror). Not the same as n8n_mirror.health, which records each sync pass and alerts the team:
this only counts, since /healthz answers without authentication and names no team or instance."""

from .models import N8nInstance


def n8n_sync_state():
    """Failing means the instance's last passes failed (failing_since set, see n8n_mirror.health):
    the answer is "degraded", not "down", since the web process itself serves on."""
    enabled = N8nInstance.objects.filter(enabled=True)
    total = enabled.count()
    failing = enabled.filter(failing_since__isnull=False).count()
    detail = f"{failing} of {total} enabled n8n instance(s) failing to sync"
    return {"ok": failing == 0, "detail": detail, "failing": failing, "total": total}


def register():
    from monitoring.health import register_check

    register_check("n8n_sync", n8n_sync_state, needs=["database"])
