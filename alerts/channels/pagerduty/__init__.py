"""The "pagerduty" channel: PagerDuty Events API v2. Firing, repeat and escalation trigger,
acknowledged acknowledges, resolved resolves, all with the alert's id as dedup_key, so one
Flowtower alert is one PagerDuty incident that follows it. The events URL is in the config
(default the US service; https://events.eu.pagerduty.com/v2/enqueue for EU accounts)."""

from django.core.exceptions import ValidationError

from ..base import Field, check_fields, check_text, check_url, clipped, post_json, read_secrets

kind = "pagerduty"
label = "PagerDuty"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
config_fields = (
    Field("events_url", "Events API URL", required=False, type="url", help=f"Default {DEFAULT_EVENTS_URL}"),
)
secret_fields = (
    Field("routing_key", "Integration (routing) key",
          help="32 characters, from the service's Events API v2 integration"),
)
ACTIONS = {"firing": "trigger", "repeat": "trigger", "escalation": "trigger", "test": "trigger",
           "acknowledged": "acknowledge", "resolved": "resolve"}
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    if config.get("events_url"):
        check_url(config["events_url"], "events_url")
    check_text(secrets["routing_key"], "routing_key", max_length=64)
    if any(c.isspace() for c in secrets["routing_key"]):
        raise ValidationError({"routing_key": "Must not contain spaces."})


def send(channel, notification):
    url = channel.config.get("events_url") or DEFAULT_EVENTS_URL
    routing_key = read_secrets(channel)["routing_key"]
    result = post_json(url, event(notification, routing_key))
    if notification.event == "test":
        # A test should not leave an open incident behind.
        post_json(url, event(notification, routing_key, action="resolve"))
    return result


def event(n, routing_key, *, action=None):
    """One Events API v2 event for the notification."""
    body = {"routing_key": routing_key, "event_action": action or ACTIONS[n.event], "dedup_key": n.dedup_key,
            "client": "Flowtower", "client_url": n.link, "links": [{"href": n.link, "text": "Open in Flowtower"}]}
    if body["event_action"] == "trigger":
        body["payload"] = {
            "summary": clipped(n.title, 1024), "source": n.workflow_name or n.team_name,
            "severity": SEVERITIES.get(n.severity, "warning"),
            "timestamp": n.first_seen_at.isoformat() if n.first_seen_at else None,
            "group": n.team_name, "class": n.alert_type or None, "component": n.workflow_name or None,
            "custom_details": {"description": n.description, "occurrences": n.occurrences, "status": n.status,
                               "fingerprint": n.fingerprint, "labels": n.labels},
        }
        body["payload"] = {k: v for k, v in body["payload"].items() if v not in (None, "")}
    return body
