"""Escalation: a critical alert nobody acknowledged within the route's escalate_after is notified
once more, to the route's escalation channel (else its own); acknowledging stops it, and the
escalation channel hears of the resolution too."""

from datetime import timedelta

import pytest

from alerts.models import Route, Silence

from alerting_notify_world import T0, clock, world  # noqa: F401  (fixtures)


@pytest.fixture
def on_call(world):
    channel = world.channel("on-call")
    Route.objects.filter(channel=world.chat).update(escalation_channel=channel, escalate_after_minutes=30)
    return channel


def test_an_unacknowledged_critical_escalates_once_to_the_escalation_channel(world, on_call):
    alert = world.raise_(severity="critical")
    world.at(29)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]
    world.at(30)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("escalation", "on-call")]
    world.at(45)
    world.run_pass()
    world.raise_(severity="critical")
    assert world.sent().count(("escalation", "on-call")) == 1
    # Both heard it fire, both hear it resolve.
    world.clear(alert)
    assert sorted(world.sent()[-2:]) == [("resolved", "chat"), ("resolved", "on-call")]


def test_acknowledging_stops_escalation(world, on_call, make_user):
    alert = world.raise_(severity="critical")
    world.at(10)
    world.acknowledge(alert, make_user("oncall"))
    world.at(31)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("acknowledged", "chat")]


def test_without_an_escalation_channel_the_routes_own_channel_is_told_again(world):
    world.raise_(severity="critical")
    world.at(30)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("escalation", "chat")]


def test_warnings_do_not_escalate(world, on_call):
    world.raise_(severity="warning")
    world.at(120)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]


def test_a_silenced_critical_does_not_escalate_and_its_clock_starts_when_first_notified(world, on_call):
    with world.committed():
        Silence.objects.create(team=world.team, ends_at=T0 + timedelta(minutes=60))
    world.raise_(severity="critical")
    world.at(61)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]
    world.at(90)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]
    world.at(91)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("escalation", "on-call")]
