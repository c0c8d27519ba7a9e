"""The API's side of channel kinds and secrets: the kind registry's checks, with their errors
placed under the request field they concern (config or secrets), and secrets merged, masked and
stored through alerts.delivery."""

from django.core.exceptions import ValidationError
from rest_framework import exceptions

from .. import delivery
from ..channels import registry

# What service tokens see for each secret: its name only.
HIDDEN = "********"


def choices():
    return registry.choices()


def _placed(exc, kind, config, secrets):
    """The registry's {field name: message} under "config" or "secrets", by where the field is."""
    module = registry.KINDS.get(kind)
    secret_names = {f.name for f in getattr(module, "secret_fields", ())} | set(secrets)
    errors = {}
    for name, messages in exc.message_dict.items():
        if name in ("kind", "config", "secrets"):
            errors.setdefault(name, []).extend(messages)
        else:
            where = "secrets" if name in secret_names and name not in config else "config"
            errors.setdefault(where, {})[name] = messages
    return errors


def validate_channel(kind, config, secrets):
    """Check a channel's kind, config and complete secrets; the API's ValidationError whose keys
    are the request's fields ({"secrets": {"url": [...]}})."""
    try:
        registry.validate(kind, config, secrets)
    except ValidationError as exc:
        raise exceptions.ValidationError(_placed(exc, kind, config, secrets)) from None
    return config, secrets


def merged_secrets(channel, given, masked=None):
    """The channel's secrets after a write: given names set, null or "" removes one, others kept. A
    value equal to the masked value the API shows keeps the stored secret (a client that sends
    back what it read must not store the mask)."""
    current = delivery.channel_secrets(channel) if channel is not None else {}
    if channel is not None and masked is None:
        masked = delivery.masked_secrets(channel)
    merged = dict(current)
    for name, value in (given or {}).items():
        if value in (None, ""):
            merged.pop(name, None)
        elif not (masked and name in current and value in (masked.get(name), HIDDEN)):
            merged[name] = value
    return merged


def is_failing(channel):
    return delivery.is_failing(channel)


def masked_secrets(channel):
    return delivery.masked_secrets(channel)


def set_secrets(channel, secrets):
    delivery.set_secrets(channel, secrets)


def send_test(channel, principal):
    return delivery.send_test(channel, principal.display_name)
