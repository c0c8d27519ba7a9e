"""What every channel kind shares: how it describes its fields, what a send returns or raises, the
checks its validate() uses, and the one way it posts JSON (through alerts.outbound)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from monitoring.crypto import decrypt_json

from .. import outbound
from ..outbound import OutboundError, private_allowed


@dataclass(frozen=True)
class Field:
    """One setting of a kind, in `config` (shown) or in `secrets` (encrypted, shown masked).
    `type` tells a form what to draw: text, url, email_list, choice."""

    name: str
    label: str
    required: bool = True
    help: str = ""
    type: str = "text"
    choices: tuple = ()


@dataclass(frozen=True)
class SendResult:
    status_code: int | None = None
    excerpt: str = ""


class DeliveryError(Exception):
    """A send that failed. `retryable`: worth trying again later (timeouts, connection failures,
    429 and 5xx answers); not for answers that will not change (4xx, a refused address)."""

    def __init__(self, message, *, retryable, status_code=None, excerpt="", retry_after=None):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.excerpt = excerpt
        self.retry_after = retry_after


def read_secrets(channel):
    """The channel's secrets, decrypted (only in memory, only while sending)."""
    return decrypt_json(channel.secrets)


# --- validation -----------------------------------------------------------------------------------

def check_fields(values, fields, what):
    """Every required field present and no unknown ones; a ValidationError naming each field."""
    known = {f.name for f in fields}
    errors = {name: f"Unknown {what} field." for name in values if name not in known}
    for f in fields:
        if f.required and values.get(f.name) in (None, "", []):
            errors[f.name] = "This field is required."
    if errors:
        raise ValidationError(errors)


def check_url(value, name, *, https=True):
    """A URL Flowtower may post to: well formed, http(s), and https unless private outbound is allowed
    (a local install posting to its own receivers)."""
    if not isinstance(value, str):
        raise ValidationError({name: "Must be a URL."})
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError({name: "Must be an http:// or https:// URL."}) from None
    if https and not value.lower().startswith("https://") and not private_allowed():
        raise ValidationError({name: "Must be an https:// URL."})


def check_text(value, name, *, max_length=500):
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({name: "Must be a non-empty string."})
    if len(value) > max_length:
        raise ValidationError({name: f"At most {max_length} characters."})


# --- sending ----------------------------------------------------------------------------------------

def post_json(url, payload, *, headers=None, data=None):
    """POST JSON (or the exact bytes in `data`, when they are signed) to a user-supplied URL; the
    result, or DeliveryError saying whether a retry may help."""
    try:
        answer = outbound.request("POST", url, json=None if data is not None else payload, data=data,
                                  headers=headers)
    except OutboundError as error:
        raise DeliveryError(str(error), retryable=error.retryable) from None
    return result_of(answer)


def result_of(answer):
    """A 2xx answer as a SendResult; anything else as DeliveryError, retryable for 429 and 5xx."""
    if 200 <= answer.status_code < 300:
        return SendResult(answer.status_code, answer.excerpt)
    retryable = answer.status_code == 429 or answer.status_code >= 500
    raise DeliveryError(f"the receiver answered {answer.status_code}", retryable=retryable,
                        status_code=answer.status_code, excerpt=answer.excerpt, retry_after=answer.retry_after)


def clipped(text, limit):
    """Text cut to a receiver's length limit."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
