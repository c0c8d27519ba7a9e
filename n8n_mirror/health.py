"""Whether an n8n instance keeps syncing, and telling its team when it does not.

Every sync pass ends here: a failed one (a read error of n8n_mirror.sync, or anything the beat
task caught) through `record_failure`, a good one through `record_success`. A failed pass records
the error on the instance and, for the first of a run of failures, when the run began
(`failing_since`). One failed pass is often n8n restarting; once the run has lasted
settings.FLOWTOWER_N8N_SYNC_ALERT_AFTER seconds the team gets an alert, through monitoring's one
alert path, so the alerting engine routes, repeats, escalates and silences it like any other.
Every later failure reports it again (one alert, its occurrences rising); the next good pass
resolves it.

Only monitoring/ is used here: the alerting engine (alerts/) hears of the alert through
monitoring's events, and n8n_mirror never imports it."""

from django.conf import settings
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring import services
from monitoring.models import AlertSeverity, AlertSource, AlertType

from . import metrics
from .models import N8nInstance

RESOLVED_BY = "Flowtower (n8n instance syncing again)"


def fingerprint(instance):
    """The instance's one alert: open while it keeps failing, resolved when it syncs again."""
    return f"n8n-sync:{instance.pk}"


def record_failure(instance, error, at=None):
    """A failed pass: record the error, start the run of failures if this is its first, and raise
    (or count again) the alert once the run has lasted long enough. Returns the alert, or None."""
    at = at or timezone.now()
    metrics.sync_run(instance, "failure")
    # One UPDATE, so the error is on the instance even if raising the alert fails, and a run's
    # start is never moved by a second failure (Coalesce keeps the stored one).
    N8nInstance.objects.filter(pk=instance.pk).update(
        last_error=error, last_error_at=at, failing_since=Coalesce("failing_since", Value(at)))
    instance.last_error, instance.last_error_at = error, at
    instance.failing_since = N8nInstance.objects.values_list("failing_since", flat=True).get(pk=instance.pk)
    failing_for = (at - instance.failing_since).total_seconds()
    if failing_for < settings.FLOWTOWER_N8N_SYNC_ALERT_AFTER:
        return None
    alert, _ = services.raise_alert(
        instance.team, fingerprint=fingerprint(instance), alert_type=AlertType.DEPENDENCY,
        severity=AlertSeverity.CRITICAL, source=AlertSource.INTEGRATION,
        title=f"n8n instance “{instance.name}” cannot be synced", description=error,
        labels={"n8n_instance": instance.name},
        metadata={"n8n_instance_id": instance.pk, "kind": instance.kind,
                  "failing_since": instance.failing_since.isoformat(), "failing_for_seconds": int(failing_for),
                  "last_success_at": instance.last_success_at.isoformat() if instance.last_success_at else None},
        at=at,
    )
    return alert


def record_success(instance, at=None):
    """A good pass: the error and the run of failures end, and the alert (if one was raised) is
    resolved. Returns the resolved alert, or None."""
    metrics.sync_run(instance, "success")
    N8nInstance.objects.filter(pk=instance.pk).update(last_error="", last_error_at=None, failing_since=None)
    instance.last_error, instance.last_error_at, instance.failing_since = "", None, None
    # Asked on every good pass, not only after a recorded failure: one indexed query, and an alert
    # left open by a pass that died half-way is resolved all the same.
    return services.clear_alert(instance.team, fingerprint(instance), by=RESOLVED_BY, at=at)
