"""The "apprise" channel: one apprise URL (https://github.com/caronc/apprise/wiki), the secret, for
the many services apprise knows.

Apprise makes its own network calls, outside alerts.outbound's address filter. So, unless
FLOWTOWER_ALLOW_PRIVATE_OUTBOUND is on, only services in VENDOR_HOSTED are accepted: their apprise
plugins post to the vendor's fixed API host (discord.com, api.telegram.org, hooks.slack.com, …),
which the URL cannot change. Every scheme that posts to a host named in the URL (json://, xml://,
form:// and their s variants, ntfy, gotify, mattermost, matrix, mailto, …) is refused: resolving
and checking that host first would still leave apprise to resolve it again on its own. For a
self-hosted receiver use the webhook channel, whose calls are filtered and pinned."""

import logging
import re

import apprise as apprise_library
from django.conf import settings
from django.core.exceptions import ValidationError

from ..base import DeliveryError, Field, SendResult, check_fields, clipped, read_secrets

kind = "apprise"
label = "Apprise URL"
config_fields = ()
secret_fields = (Field("url", "Apprise URL", help="e.g. pover://user@token, discord://id/token"),)
# Apprise protocols whose plugin only ever calls its vendor's own API host.
VENDOR_HOSTED = {"discord", "tgram", "slack", "pover", "pbul", "gchat", "opsgenie", "pagerduty", "ifttt",
                 "wxteams", "webex"}
NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}
HTTP_CODE = re.compile(r"error=(\d{3})")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    plugin(secrets["url"])


def plugin(url):
    """The apprise plugin for the URL, configured with Flowtower's timeouts; ValidationError naming
    `url` when apprise does not know it or it may post to a host of the URL's choosing."""
    instance = apprise_library.Apprise.instantiate(url) if isinstance(url, str) else None
    if not instance:
        raise ValidationError({"url": "Not an apprise URL apprise understands."})
    protocols = _protocols(instance)
    if not settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND and not protocols & VENDOR_HOSTED:
        raise ValidationError({"url": (
            f"{sorted(protocols)[0]}:// posts to a host named in the URL, which Flowtower does not allow for apprise "
            f"(use the webhook channel for your own receivers). Accepted: {', '.join(sorted(VENDOR_HOSTED))}."
        )})
    instance.socket_connect_timeout = instance.socket_read_timeout = settings.FLOWTOWER_DELIVERY_TIMEOUT
    if not settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND:
        instance.verify_certificate = True
    return instance


def _protocols(instance):
    names = set()
    for attribute in ("protocol", "secure_protocol"):
        value = getattr(instance, attribute, None) or ()
        names.update([value] if isinstance(value, str) else value)
    return {name.lower() for name in names}


def send(channel, notification):
    try:
        instance = plugin(read_secrets(channel)["url"])
    except ValidationError as error:
        raise DeliveryError("; ".join(error.messages), retryable=False) from None
    sender = apprise_library.Apprise()
    sender.add(instance)
    with apprise_library.LogCapture(level=logging.WARNING) as log:
        sent = sender.notify(body=clipped(notification.text, 4000), title=clipped(notification.title, 250),
                             notify_type=NOTIFY_TYPES.get(notification.severity, "info"))
    if sent:
        return SendResult()
    raise _failure(log.getvalue())


def _failure(log_text):
    """What apprise logged, without URLs (they carry tokens); retryable unless it logged a 4xx other than 429."""
    lines = [line for line in log_text.splitlines() if line.strip()]
    reason = URL.sub("<url>", lines[-1].split(" - ", 2)[-1]) if lines else "apprise could not send"
    code = HTTP_CODE.search(log_text)
    status = int(code.group(1)) if code else None
    retryable = status is None or status == 429 or status >= 500
    return DeliveryError(clipped(reason, 300), retryable=retryable, status_code=status)
