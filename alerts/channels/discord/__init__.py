"""The "discord" channel: a Discord webhook (the URL is the secret), one embed linking to the
alert. Mentions are disabled, so an alert title cannot ping @everyone."""

from ..base import Field, check_fields, check_url, clipped, post_json, read_secrets

kind = "discord"
label = "Discord"
config_fields = ()
secret_fields = (Field("webhook_url", "Webhook URL", type="url", help="https://discord.com/api/webhooks/…"),)
COLORS = {"critical": 0xD93025, "warning": 0xF29900, "info": 0x1A73E8, "resolved": 0x188038}


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    check_url(secrets["webhook_url"], "webhook_url")


def send(channel, notification):
    return post_json(read_secrets(channel)["webhook_url"], payload(notification))


def payload(n):
    fields = [{"name": "Severity", "value": n.severity, "inline": True},
              {"name": "Status", "value": n.status, "inline": True}]
    if n.workflow_name:
        fields.insert(0, {"name": "Workflow", "value": clipped(n.workflow_name, 1024), "inline": True})
    if n.alert_id:
        fields.append({"name": "Occurrences", "value": str(n.occurrences), "inline": True})
    embed = {"title": clipped(n.title, 256), "url": n.link,
             "color": COLORS["resolved"] if n.event == "resolved" else COLORS.get(n.severity, COLORS["info"]),
             "fields": fields}
    if n.description:
        embed["description"] = clipped(n.description, 4000)
    return {"content": clipped(n.title, 2000), "embeds": [embed], "allowed_mentions": {"parse": []}}
