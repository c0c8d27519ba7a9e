"""The channel kinds, one module each (alerts/channels/<kind>/), by name. Everything that depends
on a channel's kind asks this registry instead of testing the kind.

A kind module declares:
    kind, label                       its name and how the UI calls it
    config_fields, secret_fields      Field tuples (alerts.channels.base.Field); secrets are
                                      encrypted at rest and shown masked
    validate(config, secrets)         raises django ValidationError {field name: message}
    send(channel, notification)       -> SendResult, or raises DeliveryError(retryable=...)"""

from django.core.exceptions import ValidationError

from . import apprise, discord, email, log, pagerduty, slack, teams, telegram, webhook

KINDS = {module.kind: module for module in (log, email, slack, teams, discord, webhook, pagerduty, telegram, apprise)}


def get(kind):
    """The module of a kind; ValidationError naming `kind` for an unknown one."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise ValidationError({"kind": f"Unknown channel kind. One of: {', '.join(KINDS)}."}) from None


def choices():
    """(kind, label) pairs for forms and the API."""
    return [(name, module.label) for name, module in KINDS.items()]


def validate(kind, config, secrets):
    """Check a channel's config and (complete, decrypted) secrets; ValidationError naming the field."""
    if not isinstance(config, dict):
        raise ValidationError({"config": "Must be an object."})
    if not isinstance(secrets, dict):
        raise ValidationError({"secrets": "Must be an object."})
    get(kind).validate(config, secrets)


def send(channel, notification):
    return get(channel.kind).send(channel, notification)
