"""What a notification says, built once from an alert and the event being notified, and rendered by
each channel kind in its own format (alerts/channels/). Every notification carries the link to its
alert's page, so the person paged at 3 a.m. lands where they can acknowledge it."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from .models import NotificationEvent

DESCRIPTION_CHARS = 1500

# How each event reads in a title: the marker before the alert's own title.
TITLE_MARKERS = {
    NotificationEvent.FIRING: "[{severity}]",
    NotificationEvent.REPEAT: "[{severity}] Still firing:",
    NotificationEvent.ESCALATION: "[ESCALATED {severity}] Not acknowledged:",
    NotificationEvent.ACKNOWLEDGED: "[ACKNOWLEDGED]",
    NotificationEvent.RESOLVED: "[RESOLVED]",
    NotificationEvent.TEST: "[TEST]",
}


@dataclass
class Notification:
    event: str  # a NotificationEvent value
    title: str  # one line: the event's marker and the alert's title
    text: str  # plain text, a few lines, ending with the link
    severity: str  # info | warning | critical
    status: str  # firing | resolved (test for a test notification)
    link: str  # FLOWTOWER_BASE_URL + /alerts/<uuid>/
    team_name: str
    workflow_name: str = ""
    occurrences: int = 1
    alert_id: str = ""  # the alert's UUID; "" for a test
    alert_title: str = ""
    alert_type: str = ""
    description: str = ""
    fingerprint: str = ""
    source: str = ""
    labels: dict = field(default_factory=dict)
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    acknowledged_by: str = ""
    resolved_by: str = ""
    # Set by alerts.delivery: the same for every attempt of one delivery, so receivers can drop
    # duplicates (the webhook-id of Standard Webhooks).
    message_id: str = ""

    @property
    def dedup_key(self):
        """What identifies the alert across its events (PagerDuty's dedup_key): its id, so trigger,
        acknowledge and resolve land on one incident, and a later alert with the same fingerprint
        opens a new one."""
        return self.alert_id or f"flowtower-test-{self.message_id}"

    def as_dict(self):
        """JSON-ready (webhook bodies)."""
        data = asdict(self)
        for name in ("first_seen_at", "last_seen_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


def alert_link(alert):
    return f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"


def build(alert, event):
    """The notification of `event` for `alert`."""
    severity = alert.severity
    title = f"{TITLE_MARKERS[event].format(severity=severity.upper())} {alert.title}"
    notification = Notification(
        event=event, title=title, text="", severity=severity, status=str(alert.status), link=alert_link(alert),
        team_name=alert.team.name, workflow_name=str(alert.workflow) if alert.workflow_id else "",
        occurrences=alert.occurrences, alert_id=str(alert.pk), alert_title=alert.title, alert_type=alert.alert_type,
        description=_shortened(alert.description), fingerprint=alert.fingerprint, source=alert.source,
        labels=dict(alert.labels or {}), first_seen_at=alert.timestamp, last_seen_at=alert.last_seen_at,
        acknowledged_by=alert.acknowledged_by if alert.acknowledged else "",
        resolved_by=alert.resolved_by if alert.resolved else "",
    )
    notification.text = _text(notification)
    return notification


def build_test(channel, actor=None):
    """A test notification for a channel ("send test" in the UI, admin and API)."""
    who = f" by {actor}" if actor else ""
    notification = Notification(
        event=NotificationEvent.TEST, title=f"[TEST] Test notification from Flowtower ({channel.name})",
        text="", severity="info", status="test", link=f"{settings.FLOWTOWER_BASE_URL}/alerts/",
        team_name=channel.team.name, alert_title="Test notification from Flowtower",
        description=f"Sent{who} to check the channel \u201c{channel.name}\u201d of team {channel.team.name}. "
                    "If you read this, its notifications reach you.",
    )
    notification.text = _text(notification)
    return notification


def _text(n):
    """The plain-text body every channel can use: what happened, where, how often, and the link."""
    lines = [n.title]
    if n.description:
        lines += ["", n.description]
    lines.append("")
    if n.workflow_name:
        lines.append(f"Workflow: {n.workflow_name}")
    if n.event != NotificationEvent.TEST:
        lines.append(f"Team: {n.team_name} · Severity: {n.severity} · Status: {n.status} · "
                     f"Occurrences: {n.occurrences}")
        lines.append(f"First seen: {_when(n.first_seen_at)} · Last seen: {_when(n.last_seen_at)}")
    if n.acknowledged_by:
        lines.append(f"Acknowledged by {n.acknowledged_by}")
    if n.resolved_by:
        lines.append(f"Resolved by {n.resolved_by}")
    lines.append(f"Open: {n.link}")
    return "\n".join(lines)


def _when(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _shortened(text):
    text = (text or "").strip()
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"
