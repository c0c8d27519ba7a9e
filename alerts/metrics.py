"""Notification deliveries by channel kind and outcome, counted in the process that makes the
attempt (the Celery worker, or the web process for "send test" and eager tasks): an attempt that
is sent, or failed for good; an attempt that will be retried is not an outcome yet (its retry is)."""

from django.db import transaction
from prometheus_client import Counter

from .models import DeliveryStatus

DELIVERIES = Counter(
    "flowtower_notification_deliveries_total", "Notification deliveries, by channel kind and outcome.",
    ["channel_kind", "outcome"],
)
OUTCOMES = {DeliveryStatus.SENT: "sent", DeliveryStatus.FAILED: "failed"}


def delivery_finished(delivery):
    outcome = OUTCOMES.get(delivery.status)
    if outcome:
        kind = delivery.channel.kind
        transaction.on_commit(lambda: DELIVERIES.labels(kind, outcome).inc(), robust=True)
