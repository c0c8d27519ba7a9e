"""The "webhook" channel: a JSON POST to any https URL, signed as Standard Webhooks specifies
(https://www.standardwebhooks.com/), so the receiver can check it came from Flowtower and is fresh:

    webhook-id:        msg_<n>, the same on every retry of one notification (drop duplicates by it)
    webhook-timestamp: Unix seconds when this attempt was signed
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under the signing secret>

The signing secret is a `whsec_` + base64 string of 24 to 64 random bytes; receivers verify with
any Standard Webhooks library, e.g. Python's `standardwebhooks.Webhook(secret).verify(body, headers)`,
which also refuses timestamps more than 5 minutes off. The body:
{"type": "alert.<event>", "timestamp": "...", "data": {<the notification: title, text, severity,
status, link, alert_id, workflow_name, occurrences, labels, ...>}}."""

import base64
import binascii
import json
import secrets as random
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from standardwebhooks import Webhook

from ..base import Field, check_fields, check_url, post_json, read_secrets

kind = "webhook"
label = "Webhook (signed JSON)"
config_fields = ()
secret_fields = (
    Field("url", "URL", type="url", help="Where the JSON is posted (https)"),
    Field("signing_secret", "Signing secret", help="whsec_ followed by base64 of 24–64 random bytes"),
)
PREFIX = "whsec_"


def generate_signing_secret():
    """A fresh signing secret in the Standard Webhooks format (32 random bytes)."""
    return PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    check_url(secrets["url"], "url")
    secret = secrets["signing_secret"]
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValidationError({"signing_secret": f"Must start with {PREFIX} (Standard Webhooks format)."})
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"signing_secret": f"Must be {PREFIX} followed by base64."}) from None
    if not 24 <= len(key) <= 64:
        raise ValidationError({"signing_secret": "Must encode 24 to 64 random bytes."})


def send(channel, notification):
    values = read_secrets(channel)
    body, headers = signed(notification, values["signing_secret"])
    return post_json(values["url"], None, data=body.encode(), headers=headers)


def signed(notification, signing_secret, *, now=None):
    """The exact body and the Standard Webhooks headers signing it."""
    now = now or datetime.now(UTC)
    body = json.dumps({"type": f"alert.{notification.event}", "timestamp": now.isoformat(),
                       "data": notification.as_dict()}, separators=(",", ":"), default=str)
    message_id = notification.message_id or f"msg_{random.token_hex(12)}"
    signature = Webhook(signing_secret).sign(message_id, now, body)
    headers = {"Content-Type": "application/json", "webhook-id": message_id,
               "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    return body, headers
