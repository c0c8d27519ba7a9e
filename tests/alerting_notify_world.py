"""Shared by the notification pipeline tests (tests/test_alerting_notify*.py, escalation): a team
with two workflows, a "log" channel routed every severity, a clock, and helpers that run the real
pipeline — raise_alert publishes after commit, the receiver starts alerts.tasks.process_alerts
(eager in tests), notify records Deliveries and sends them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerts.models import AlertNotification, Channel, Delivery, Route
from alerts.notify import notification_pass
from monitoring.access import Principal
from monitoring.models import Alert, Workflow
from monitoring.services import clear_alert, raise_alert, update_alert

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # a Monday


class World:
    def __init__(self, team, capture, clock):
        self.team = team
        self.capture = capture  # django_capture_on_commit_callbacks: runs what commits would run
        self.clock = clock
        self.orders = Workflow.objects.create(team=team, external_id="wf-orders", name="Orders", tags=["billing"])
        self.invoices = Workflow.objects.create(team=team, external_id="wf-invoices", name="Invoices")
        self.chat = self.channel("chat")

    # --- set-up -------------------------------------------------------------------------------
    def channel(self, name, kind="log", enabled=True):
        return Channel.objects.create(team=self.team, name=name, kind=kind, enabled=enabled)

    def route(self, channel, **fields):
        return Route.objects.create(team=self.team, name=fields.pop("name", channel.name), channel=channel, **fields)

    def at(self, minutes):
        """Move the clock to T0 + minutes."""
        self.clock.move_to(T0 + timedelta(minutes=minutes))

    # --- what services do (each committed, so the pipeline runs) -----------------------------------
    def raise_(self, key="failed", severity="warning", workflow="orders", **fields):
        workflow = getattr(self, workflow) if workflow else None
        with self.capture(execute=True):
            alert, _ = raise_alert(self.team, fingerprint=f"{key}:{workflow.pk if workflow else '-'}",
                                   alert_type="error", severity=severity, title=f"{key} ({severity})",
                                   workflow=workflow, **fields)
        return Alert.objects.get(pk=alert.pk)

    def clear(self, alert):
        with self.capture(execute=True):
            clear_alert(self.team, alert.fingerprint)
        return Alert.objects.get(pk=alert.pk)

    def acknowledge(self, alert, who):
        with self.capture(execute=True):
            update_alert(alert, Principal(user=who), acknowledged=True)
        return Alert.objects.get(pk=alert.pk)

    def run_pass(self):
        with self.capture(execute=True):
            return notification_pass()

    def committed(self):
        return self.capture(execute=True)

    # --- what was sent ---------------------------------------------------------------------------
    def sent(self, alert=None):
        """[(event, channel name)] of first attempts, oldest first; all sent (the log channel)."""
        deliveries = Delivery.objects.filter(attempt=1).order_by("created_at", "pk")
        if alert is not None:
            deliveries = deliveries.filter(alert=alert)
        assert all(d.status == "sent" for d in deliveries), [(d.status, d.error) for d in deliveries]
        return [(d.event, d.channel.name) for d in deliveries]

    def state(self, alert):
        return AlertNotification.objects.filter(alert=alert).first()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(team, django_capture_on_commit_callbacks, clock):
    made = World(team, django_capture_on_commit_callbacks, clock)
    made.route(made.chat)
    return made
