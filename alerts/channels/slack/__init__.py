"""The "slack" channel: a Slack incoming webhook (the URL is the secret). Block Kit: the title, the
description, the facts and a button to the alert's page, with plain text as the fallback."""

from ..base import Field, check_fields, check_url, clipped, post_json, read_secrets

kind = "slack"
label = "Slack"
config_fields = ()
secret_fields = (
    Field("webhook_url", "Incoming webhook URL", type="url", help="https://hooks.slack.com/services/…"),
)
EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
EVENT_EMOJI = {"resolved": ":white_check_mark:", "acknowledged": ":eyes:", "test": ":wave:"}


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    check_url(secrets["webhook_url"], "webhook_url")


def send(channel, notification):
    return post_json(read_secrets(channel)["webhook_url"], payload(notification))


def payload(n):
    emoji = EVENT_EMOJI.get(n.event) or EMOJI.get(n.severity, "")
    facts = [f"*Severity:* {n.severity}", f"*Status:* {n.status}"]
    if n.workflow_name:
        facts.insert(0, f"*Workflow:* {escape(n.workflow_name)}")
    if n.alert_id:
        facts.append(f"*Occurrences:* {n.occurrences}")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": clipped(f"{emoji} *{escape(n.title)}*", 3000)}}]
    if n.description:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clipped(escape(n.description), 3000)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]})
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open in Flowtower"}, "url": n.link},
    ]})
    return {"text": clipped(f"{n.title} {n.link}", 3000), "blocks": blocks}


def escape(text):
    """Slack's three control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
