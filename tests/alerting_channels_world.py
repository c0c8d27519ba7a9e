"""Shared by the channel and delivery tests (tests/test_alerting_channels_*.py, test_alerting_delivery.py):
a firing critical alert of the acme team's "Order sync" workflow, channels of any kind with their
secrets stored the way the app stores them, and `deliver`, which notifies and runs what that
schedules (Celery is eager in the tests; the transaction's on-commit callbacks are run)."""

import pytest

from alerts import delivery
from alerts.models import Channel
from monitoring.models import Workflow
from monitoring.services import raise_alert

# A Fernet key other than the test settings' one (rotation tests).
OTHER_KEY = "b3RoZXIta2V5LWZvci1yb3RhdGlvbi10ZXN0cy0wMTI="


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="order-sync", name="Order sync")


@pytest.fixture
def alert(team, workflow):
    alert, _ = raise_alert(team, fingerprint="rule:7:wf:1", alert_type="error", severity="critical",
                           title="Order sync failed", description="3 of the last 4 executions failed.",
                           source="rule", workflow=workflow, labels={"rule": "7"})
    return alert


@pytest.fixture
def make_channel(team):
    def make(kind, config=None, secrets=None, *, name=None, **fields):
        channel = Channel(team=team, name=name or kind, kind=kind, config=config or {}, **fields)
        delivery.set_secrets(channel, secrets or {}, save=False)
        channel.save()
        return channel

    return make


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """notify(alert, channel, event) and every attempt it leads to; the channel's deliveries by attempt."""

    def run(alert, channel, event="firing"):
        with django_capture_on_commit_callbacks(execute=True):
            delivery.notify(alert, channel, event)
        channel.refresh_from_db()
        return list(channel.deliveries.order_by("attempt", "pk"))

    return run
