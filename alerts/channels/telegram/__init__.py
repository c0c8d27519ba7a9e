"""The "telegram" channel: a Telegram bot (its token is the secret) posting to a chat. The Bot API
base is in the config for a self-hosted Bot API server (default https://api.telegram.org)."""

import html
import re

from django.core.exceptions import ValidationError

from ..base import Field, check_fields, check_url, clipped, post_json, read_secrets

kind = "telegram"
label = "Telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
config_fields = (
    Field("chat_id", "Chat id", help="A number (groups are negative) or @channelname"),
    Field("api_base", "Bot API base URL", required=False, type="url", help=f"Default {DEFAULT_API_BASE}"),
)
secret_fields = (Field("bot_token", "Bot token", help="From @BotFather: 123456789:AA…"),)
BOT_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
CHAT_ID = re.compile(r"^(-?\d+|@[A-Za-z0-9_]{5,})$")


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    if not CHAT_ID.match(str(config["chat_id"])):
        raise ValidationError({"chat_id": "Must be a number or @channelname."})
    if config.get("api_base"):
        check_url(config["api_base"], "api_base")
    if not isinstance(secrets["bot_token"], str) or not BOT_TOKEN.match(secrets["bot_token"]):
        raise ValidationError({"bot_token": "Not a bot token (digits, a colon, then the key)."})


def send(channel, notification):
    base = (channel.config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    url = f"{base}/bot{read_secrets(channel)['bot_token']}/sendMessage"
    return post_json(url, payload(channel.config["chat_id"], notification))


def payload(chat_id, n):
    """sendMessage in HTML mode (everything from the alert escaped), within Telegram's 4096 characters."""
    lines = [f"<b>{html.escape(clipped(n.title, 500))}</b>"]
    if n.description:
        lines.append(html.escape(clipped(n.description, 2500)))
    details = [f"Severity: {n.severity}", f"Status: {n.status}"]
    if n.workflow_name:
        details.insert(0, f"Workflow: {html.escape(n.workflow_name)}")
    if n.alert_id:
        details.append(f"Occurrences: {n.occurrences}")
    lines.append(" · ".join(details))
    lines.append(f'<a href="{html.escape(n.link)}">Open in Flowtower</a>')
    return {"chat_id": chat_id, "text": "\n\n".join(lines), "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True}}
