"""Prometheus Alertmanager's webhook (payload version "4") turned into Flowtower alerts.

Alertmanager sends the alerts of one group, each firing or resolved, again and again while they
last (group_interval, repeat_interval). Each firing alert is raised through
monitoring.services.raise_alert with the fingerprint "am:<Alertmanager's fingerprint>", so a repeat
is the same open alert with one more occurrence; a resolved one is cleared through clear_alert.
Everything one payload says is written in one transaction: all of it, or (on an error) none.

How Alertmanager's labels and annotations become an alert:
- team: the team of the service token that posted the payload;
- workflow: the team's workflow whose external id is the `workflow_id` label, if there is one;
- severity: the `severity` label, mapped by SEVERITY_BY_LABEL (anything else, or none: warning);
- alert_type: the `alert_type` label when it is one of Flowtower's alert types, else "dependency"
  (what Alertmanager reports is mostly infrastructure workflows depend on: queues, databases, hosts);
- title: annotation `summary`, else annotation `title`, else label `alertname`;
- description: annotation `description`;
- labels: Alertmanager's labels as they are (silences can match them);
- metadata: generatorURL, startsAt, the annotations, and the receiver and group key.
The payload is validated before this runs (alerts.api.alertmanager.WebhookPayload).
"""

from dataclasses import dataclass, field

from django.db import transaction

from monitoring import services
from monitoring.models import AlertSeverity, AlertSource, AlertType, Workflow

FINGERPRINT_PREFIX = "am:"
RESOLVED_BY = "Alertmanager"
DEFAULT_ALERT_TYPE = AlertType.DEPENDENCY
DEFAULT_SEVERITY = AlertSeverity.WARNING
SEVERITY_BY_LABEL = {
    "critical": AlertSeverity.CRITICAL, "page": AlertSeverity.CRITICAL, "error": AlertSeverity.CRITICAL,
    "warning": AlertSeverity.WARNING, "warn": AlertSeverity.WARNING,
    "info": AlertSeverity.INFO, "none": AlertSeverity.INFO,
}
FALLBACK_TITLE = "Alertmanager alert"


@dataclass
class Summary:
    """What one payload did, as the webhook answers it."""

    created: int = 0  # firing alerts Flowtower had no open alert for
    updated: int = 0  # firing alerts already open: one more occurrence
    resolved: int = 0  # resolved alerts that were open
    already_resolved: int = 0  # resolved alerts with no open alert (resolved before, or never seen)
    alerts: list = field(default_factory=list)  # per alert: fingerprint, status, id (None if not open)

    def as_dict(self):
        return {"received": len(self.alerts), "created": self.created, "updated": self.updated,
                "resolved": self.resolved, "already_resolved": self.already_resolved, "alerts": self.alerts}


def severity_of(labels):
    """Alertmanager's `severity` label as a Flowtower severity; unknown or missing: warning."""
    return SEVERITY_BY_LABEL.get(str(labels.get("severity", "")).strip().lower(), DEFAULT_SEVERITY)


def alert_type_of(labels):
    value = labels.get("alert_type")
    return value if value in AlertType.values else DEFAULT_ALERT_TYPE


def title_of(labels, annotations):
    return annotations.get("summary") or annotations.get("title") or labels.get("alertname") or FALLBACK_TITLE


def workflow_of(team, labels):
    """The team's workflow named by the `workflow_id` label (its external id), or None. An id used
    by several sources (the REST API and an n8n mirror) picks the oldest workflow."""
    external_id = labels.get("workflow_id")
    if not external_id:
        return None
    return Workflow.objects.filter(team=team, external_id=external_id).order_by("pk").first()


def _metadata(alert, payload):
    metadata = {"generatorURL": alert.get("generatorURL", ""), "annotations": alert.get("annotations", {}),
                "receiver": payload.get("receiver", ""), "groupKey": payload.get("groupKey", "")}
    if alert.get("startsAt") is not None:
        metadata["startsAt"] = alert["startsAt"].isoformat()
    return metadata


def _fire(team, alert, payload, summary):
    labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
    fingerprint = FINGERPRINT_PREFIX + alert["fingerprint"]
    raised, created = services.raise_alert(
        team, fingerprint=fingerprint, source=AlertSource.ALERTMANAGER, alert_type=alert_type_of(labels),
        severity=severity_of(labels), title=title_of(labels, annotations),
        description=annotations.get("description", ""), workflow=workflow_of(team, labels), labels=labels,
        metadata=_metadata(alert, payload),
    )
    if created:
        summary.created += 1
    else:
        summary.updated += 1
    summary.alerts.append({"fingerprint": fingerprint, "status": "firing", "id": str(raised.pk),
                           "created": created})


def _resolve(team, alert, summary):
    fingerprint = FINGERPRINT_PREFIX + alert["fingerprint"]
    cleared = services.clear_alert(team, fingerprint, by=RESOLVED_BY)
    if cleared is None:
        summary.already_resolved += 1
    else:
        summary.resolved += 1
    summary.alerts.append({"fingerprint": fingerprint, "status": "resolved",
                           "id": str(cleared.pk) if cleared else None, "created": False})


@transaction.atomic
def receive(team, payload) -> Summary:
    """Apply a validated webhook payload for `team`, alert by alert in the payload's order (an
    alert that fires and resolves within one payload ends resolved). Returns the summary."""
    summary = Summary()
    for alert in payload["alerts"]:
        if alert["status"] == "firing":
            _fire(team, alert, payload, summary)
        else:
            _resolve(team, alert, summary)
    return summary
