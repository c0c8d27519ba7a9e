"""The "log" channel: writes each notification to the `alerts.notifications` logger (at WARNING, so
it shows at the demo's log level). For the demo and for trying rules without a receiver; nothing
leaves the server."""

import logging

from django.core.exceptions import ValidationError

from ..base import SendResult, check_fields

kind = "log"
label = "Log (server log only)"
config_fields = ()
secret_fields = ()

logger = logging.getLogger("alerts.notifications")


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    if secrets:
        raise ValidationError({name: "The log channel has no secrets." for name in secrets})


def send(channel, notification):
    logger.warning(
        "%s | %s", notification.title, notification.link,
        extra={"channel": channel.name, "team": notification.team_name, "event": notification.event,
               "severity": notification.severity, "alert_id": notification.alert_id,
               "notification": notification.text},
    )
    return SendResult()
