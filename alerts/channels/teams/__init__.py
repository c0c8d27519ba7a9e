"""The "teams" channel: a Microsoft Teams incoming webhook (a Workflows webhook or a classic
connector; the URL is the secret), posting a small Adaptive Card with a button to the alert."""

from ..base import Field, check_fields, check_url, clipped, post_json, read_secrets

kind = "teams"
label = "Microsoft Teams"
config_fields = ()
secret_fields = (Field("webhook_url", "Incoming webhook URL", type="url"),)
COLORS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    check_url(secrets["webhook_url"], "webhook_url")


def send(channel, notification):
    return post_json(read_secrets(channel)["webhook_url"], payload(notification))


def payload(n):
    color = "Good" if n.event == "resolved" else COLORS.get(n.severity, "Default")
    body = [{"type": "TextBlock", "text": clipped(n.title, 500), "weight": "Bolder", "size": "Medium",
             "color": color, "wrap": True}]
    if n.description:
        body.append({"type": "TextBlock", "text": clipped(n.description, 2000), "wrap": True})
    facts = [{"title": "Severity", "value": n.severity}, {"title": "Status", "value": n.status}]
    if n.workflow_name:
        facts.insert(0, {"title": "Workflow", "value": n.workflow_name})
    if n.alert_id:
        facts.append({"title": "Occurrences", "value": str(n.occurrences)})
    body.append({"type": "FactSet", "facts": facts})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
        "body": body, "actions": [{"type": "Action.OpenUrl", "title": "Open in Flowtower", "url": n.link}],
    }
    return {"type": "message", "summary": clipped(n.title, 200),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
