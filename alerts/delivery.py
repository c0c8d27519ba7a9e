"""Sending notifications to channels, and the channels' secrets.

- notify(alert, channel, event): records a pending Delivery and sends it in Celery once the
  transaction commits (alerts.tasks.deliver).
- Each attempt is one Delivery row (attempt 1, 2, …): sent, failed, or retrying, in which case the
  next attempt's row is created and scheduled after an exponential backoff. Timeouts, connection
  failures, 429 and 5xx are retried up to settings.FLOWTOWER_DELIVERY_MAX_ATTEMPTS; other answers
  (4xx, a refused address, a bad configuration) are not.
- A channel counts notifications that failed for good in a row (consecutive_failures, reset by a
  success); is_failing() says when the Channels page marks it.
- send_test(channel): a "test" notification, sent now, without retries.
- set_secrets / masked_secrets / channel_secrets: secrets encrypted at rest, never shown in full."""

import logging
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monitoring import dispatch
from monitoring.crypto import decrypt_json, encrypt_json

from . import messages
from . import metrics as delivery_metrics
from .channels import registry
from .channels.base import DeliveryError
from .models import Channel, Delivery, DeliveryStatus, NotificationEvent

logger = logging.getLogger(__name__)

# Retry n waits BACKOFF_BASE_SECONDS × 2^(n-1), at most BACKOFF_CAP_SECONDS (30 s, 1 min, 2 min, 4 min, …).
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
TEXT_LIMIT = 500  # Delivery.error and .response_excerpt


def notify(alert, channel, event):
    """Send `event` of `alert` to `channel` in the background (after commit). Returns the pending
    Delivery, or None for a disabled channel (nothing is sent to it)."""
    if not channel.enabled:
        return None
    delivery = Delivery.objects.create(alert=alert, channel=channel, event=event, attempt=1)
    transaction.on_commit(partial(_enqueue, delivery.pk, _message_id(delivery), 0))
    return delivery


def send_test(channel, actor=None):
    """Send a test notification to the channel now (the "send test" action) and return its Delivery:
    sent, or failed with the error and the receiver's answer. Not retried; works on a disabled
    channel, so it can be tried before it is enabled."""
    delivery = Delivery.objects.create(channel=channel, event=NotificationEvent.TEST, attempt=1)
    return attempt(delivery.pk, actor=actor)


def attempt(delivery_id, message_id=None, *, actor=None):
    """Make the attempt a pending Delivery stands for and record its outcome (the body of the
    alerts.tasks.deliver task). Returns the Delivery, or None when it is gone or already done (a
    task delivered twice)."""
    delivery = (Delivery.objects.select_related("channel__team", "alert__team", "alert__workflow")
                .filter(pk=delivery_id, status=DeliveryStatus.PENDING).first())
    if delivery is None:
        return None
    channel = delivery.channel
    if not channel.enabled and delivery.event != NotificationEvent.TEST:
        return _finish(delivery, DeliveryStatus.FAILED, error="the channel was disabled before sending")
    notification = (messages.build_test(channel, actor) if delivery.event == NotificationEvent.TEST
                    else messages.build(delivery.alert, delivery.event))
    notification.message_id = message_id or _message_id(delivery)
    try:
        result = registry.send(channel, notification)
    except DeliveryError as failure:
        return _failed(delivery, failure, notification.message_id)
    except (ImproperlyConfigured, ValidationError) as error:  # a missing key, a config no longer valid
        return _failed(delivery, DeliveryError(_message(error), retryable=False), notification.message_id)
    except Exception as error:  # a bug in a channel kind must not lose the record of the attempt
        logger.exception("Channel %s (%s) failed unexpectedly", channel.pk, channel.kind)
        return _failed(delivery, DeliveryError(f"unexpected error ({type(error).__name__})", retryable=False),
                       notification.message_id)
    _record_success(channel)
    return _finish(delivery, DeliveryStatus.SENT, code=result.status_code, excerpt=result.excerpt)


def is_failing(channel):
    """Whether the Channels page marks the channel failing: its last FLOWTOWER_CHANNEL_FAILING_AFTER
    notifications failed (after their retries)."""
    return channel.consecutive_failures >= settings.FLOWTOWER_CHANNEL_FAILING_AFTER


def backoff_seconds(attempt_number):
    """The wait before attempt `attempt_number` + 1."""
    return min(BACKOFF_BASE_SECONDS * 2 ** (attempt_number - 1), BACKOFF_CAP_SECONDS)


# --- outcomes ---------------------------------------------------------------------------------------

def _failed(delivery, failure, message_id):
    """Record a failed attempt; schedule the next one when the failure may pass and attempts remain."""
    retry = (failure.retryable and delivery.event != NotificationEvent.TEST
             and delivery.attempt < settings.FLOWTOWER_DELIVERY_MAX_ATTEMPTS)
    _finish(delivery, DeliveryStatus.RETRYING if retry else DeliveryStatus.FAILED, code=failure.status_code,
            error=str(failure), excerpt=failure.excerpt)
    if retry:
        following = Delivery.objects.create(alert=delivery.alert, channel=delivery.channel, event=delivery.event,
                                            attempt=delivery.attempt + 1)
        countdown = min(max(backoff_seconds(delivery.attempt), failure.retry_after or 0), BACKOFF_CAP_SECONDS)
        transaction.on_commit(partial(_enqueue, following.pk, message_id, countdown))
    else:
        _record_failure(delivery.channel)
    return delivery


def _finish(delivery, status, *, code=None, error="", excerpt=""):
    delivery.status = status
    delivery.response_code = code if code is None or 0 <= code < 32768 else None
    delivery.error = _clip(error)
    delivery.response_excerpt = _clip(excerpt)
    delivery.finished_at = timezone.now()
    delivery.save(update_fields=["status", "response_code", "error", "response_excerpt", "finished_at"])
    delivery_metrics.delivery_finished(delivery)
    return delivery


def _record_success(channel):
    now = timezone.now()
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0, last_success_at=now)
    channel.consecutive_failures, channel.last_success_at = 0, now


def _record_failure(channel):
    now = timezone.now()
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=F("consecutive_failures") + 1,
                                                 last_failure_at=now)
    channel.refresh_from_db(fields=["consecutive_failures", "last_failure_at"])


def _enqueue(delivery_id, message_id, countdown):
    from .tasks import deliver  # the task module imports this one

    # Never sent inline: with the broker down the row stays pending for resend_stale.
    dispatch.enqueue(deliver, (delivery_id, message_id), countdown=countdown or None, inline_when_down=False)


# A pending delivery whose attempt was due this long ago has no task working on it (it could not be
# queued: the broker was down, or the worker died holding it).
STALE_AFTER_SECONDS = 120


def resend_stale(now=None):
    """Queue again the pending deliveries nobody is working on (from the notification pass, once
    Celery runs again). An attempt is made once: attempt() acts only on a still-pending row.
    Returns how many were queued."""
    now = now or timezone.now()
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING, event__in=_RESENDABLE,
                                      created_at__lt=now - timedelta(seconds=STALE_AFTER_SECONDS))
    stale = [d.pk for d in pending.only("pk", "attempt", "created_at")
             if d.created_at + timedelta(seconds=_planned_wait(d.attempt) + STALE_AFTER_SECONDS) < now]
    for pk in stale:
        _enqueue(pk, None, 0)
    return len(stale)


_RESENDABLE = [e for e in NotificationEvent.values if e != NotificationEvent.TEST]


def _planned_wait(attempt_number):
    return backoff_seconds(attempt_number - 1) if attempt_number > 1 else 0


def _message_id(delivery):
    """One id for every attempt of a notification to a channel: receivers drop repeats by it."""
    return f"msg_{delivery.pk}"


def _message(error):
    return "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)


def _clip(text):
    text = text or ""
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


# --- secrets ------------------------------------------------------------------------------------------

def channel_secrets(channel):
    """The channel's secrets, decrypted (for sending and for validating a change)."""
    return decrypt_json(channel.secrets)


def set_secrets(channel, secrets, *, partial=False, save=True):
    """Store the channel's secrets encrypted. With partial=True only the given names change (a form
    or API update that leaves a write-only secret out keeps it; None or "" removes one)."""
    values = {**channel_secrets(channel), **secrets} if partial else dict(secrets)
    channel.secrets = encrypt_json({name: value for name, value in values.items() if value not in (None, "")})
    if save and channel.pk:
        channel.save(update_fields=["secrets", "updated_at"])
    return channel


def configure_channel(channel, *, config=None, secrets=None, partial_secrets=True):
    """Validate a channel's kind, config and secrets together (the given secrets merged into the
    stored ones unless partial_secrets=False), then store them (encrypted) and save the channel.
    ValidationError naming the field otherwise; nothing is saved then."""
    config = channel.config if config is None else config
    stored = channel_secrets(channel) if channel.secrets and partial_secrets else {}
    merged = {name: value for name, value in {**stored, **(secrets or {})}.items() if value not in (None, "")}
    registry.validate(channel.kind, config, merged)
    channel.config = config
    set_secrets(channel, merged, save=False)
    channel.save()
    return channel


def masked_secrets(channel):
    """Each stored secret masked: a URL keeps its scheme and host, anything keeps at most its last 4
    characters ("https://hooks.slack.com/…XYZ1", "…a9F2"); short values show nothing."""
    return {name: mask(value) for name, value in channel_secrets(channel).items()}


def mask(value):
    value = str(value)
    tail = value[-4:] if len(value) >= 16 else ""
    try:
        parts = urlsplit(value) if "://" in value else None
        host = parts.hostname if parts else None
    except ValueError:
        parts = host = None
    if parts and parts.scheme in ("http", "https") and host:
        return f"{parts.scheme}://{host}/…{tail}"
    if parts and parts.scheme.isalnum():
        return f"{parts.scheme}://…{tail}"
    return f"…{tail}"
