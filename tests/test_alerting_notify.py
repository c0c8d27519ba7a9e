"""The notification pipeline end to end: an alert raised through monitoring.services is notified
once to its routed channels, reminded only as the repeat interval says, told once that it was
acknowledged and once that it resolved — and its own marks never start a loop."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from standardwebhooks import Webhook

from alerts.channels.webhook import generate_signing_secret
from alerts.delivery import configure_channel
from alerts.models import Channel, Delivery, Route, Silence
from alerts.notify import process
from monitoring.access import Principal
from monitoring.events import monitoring_event
from monitoring.models import Alert
from monitoring.services import update_alert

from alerting_notify_world import T0, clock, world  # noqa: F401  (fixtures)


def test_a_firing_alert_is_notified_once_however_often_it_repeats(world):
    alert = world.raise_()
    assert world.sent() == [("firing", "chat")]
    for _ in range(3):
        world.raise_()  # the same condition again: one open alert, more occurrences
    assert Alert.objects.get(pk=alert.pk).occurrences == 4
    assert world.sent() == [("firing", "chat")]
    state = world.state(alert)
    assert state.first_notified_at == T0 and state.channels == [world.chat.pk]


def test_the_webhook_receiver_gets_one_signed_firing_notification(world, httpserver):
    secret = generate_signing_secret()
    hook = configure_channel(Channel(team=world.team, name="hook", kind="webhook"),
                             secrets={"url": httpserver.url_for("/hook"), "signing_secret": secret})
    world.route(hook, severities=["critical"])
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")

    alert = world.raise_(severity="critical")
    world.raise_(severity="critical")

    assert len(httpserver.log) == 1
    request, _ = httpserver.log[0]
    body = Webhook(secret).verify(request.get_data(), dict(request.headers))
    assert body["type"] == "alert.firing"
    assert body["data"]["alert_id"] == str(alert.pk)
    assert sorted(world.sent()) == [("firing", "chat"), ("firing", "hook")]


def test_a_repeat_is_notified_only_once_the_routes_repeat_interval_has_passed(world):
    Route.objects.filter(channel=world.chat).update(repeat_interval_minutes=60)
    alert = world.raise_()
    world.at(30)
    world.raise_()
    assert world.sent() == [("firing", "chat")]
    world.at(61)
    world.raise_()  # a new occurrence after the interval: reminded now
    assert world.sent() == [("firing", "chat"), ("repeat", "chat")]
    world.at(90)
    world.run_pass()
    assert len(world.sent()) == 2
    # Still firing an interval later, even without a new occurrence: the pass reminds.
    world.at(121)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("repeat", "chat"), ("repeat", "chat")]
    assert world.state(alert).last_notified_at == T0 + timedelta(minutes=121)


def test_each_channel_is_reminded_on_its_own_interval(world):
    Route.objects.filter(channel=world.chat).update(repeat_interval_minutes=10)
    world.route(world.channel("email"), repeat_interval_minutes=25)
    world.raise_()
    for minute in range(1, 31):
        world.at(minute)
        world.run_pass()
    counts = {name: [e for e, n in world.sent() if n == name] for name in ("chat", "email")}
    # chat at 10, 20, 30; email at 25 — chat's reminders do not hold email's back.
    assert counts == {"chat": ["firing", "repeat", "repeat", "repeat"], "email": ["firing", "repeat"]}


def test_acknowledging_is_notified_once_and_stops_the_reminders(world, make_user):
    Route.objects.filter(channel=world.chat).update(repeat_interval_minutes=60)
    alert = world.raise_()
    world.at(5)
    world.acknowledge(alert, make_user("oncall"))
    world.acknowledge(alert, make_user("second"))  # already acknowledged: no change
    world.raise_()  # it keeps happening, but someone is on it
    world.at(600)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("acknowledged", "chat")]


def test_a_resolution_is_notified_once_to_the_channels_told_it_fired(world):
    Route.objects.filter(channel=world.chat).update(severities=["critical"])
    email = world.channel("email")
    world.route(email)  # every severity
    warning = world.raise_()
    world.at(10)
    world.clear(warning)
    world.clear(warning)  # nothing open any more
    world.at(20)
    world.run_pass()
    assert world.sent(warning) == [("firing", "email"), ("resolved", "email")]
    assert world.state(warning).resolved_notified_at is not None


def test_an_alert_resolved_before_anyone_was_told_sends_nothing(world):
    Route.objects.all().delete()
    alert = world.raise_()
    world.route(world.chat)  # a route added later
    world.clear(alert)
    world.run_pass()
    assert world.sent() == []


def test_a_disabled_channel_is_not_notified(world):
    Channel.objects.filter(pk=world.chat.pk).update(enabled=False)
    world.raise_()
    assert world.sent() == []


def test_marking_an_alert_publishes_one_update_and_starts_no_loop(world):
    Silence.objects.create(team=world.team, matchers={"workflow": "wf-orders"}, ends_at=T0.replace(hour=23))
    events = []

    def record(sender, event, **kwargs):
        if event.type == "alert":
            events.append((event.action, event.data.get("silenced")))

    monitoring_event.connect(record)
    try:
        alert = world.raise_()
    finally:
        monitoring_event.disconnect(record)
    # created, then the one mark; the task that mark started changed nothing and sent nothing.
    assert [action for action, _ in events] == ["created", "updated"]
    assert Alert.objects.get(pk=alert.pk).silenced
    assert world.sent() == []
    assert process(alert.pk) == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_processing_one_alert_at_once_notify_it_once(team):
    channel = Channel.objects.create(team=team, name="chat", kind="log")
    Route.objects.create(team=team, name="all", channel=channel)
    # Written directly (no event): the two workers below are the only ones to process it.
    alert = Alert.objects.create(team=team, fingerprint="f", alert_type="error", severity="critical", title="Down")
    start = threading.Barrier(2)
    results, failures = [], []

    def worker():
        try:
            start.wait()
            results.append(process(alert.pk))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    assert sorted(len(sent) for sent in results) == [0, 1]
    assert list(Delivery.objects.filter(alert=alert).values_list("event", flat=True)) == ["firing"]


def test_a_reopened_alert_is_notified_as_firing_again_and_its_next_resolution_too(world, make_user):
    person = Principal(user=make_user("lead"))
    alert = world.raise_()
    world.at(5)
    with world.committed():
        update_alert(alert, person, resolved=True)
    world.at(10)
    with world.committed():
        update_alert(alert, person, resolved=False, acknowledged=False)
    world.at(15)
    with world.committed():
        update_alert(alert, person, resolved=True)
    assert world.sent() == [("firing", "chat"), ("resolved", "chat"), ("firing", "chat"), ("resolved", "chat")]


def test_taking_back_an_acknowledgement_brings_the_reminders_back(world, make_user):
    Route.objects.filter(channel=world.chat).update(repeat_interval_minutes=60)
    alert = world.acknowledge(world.raise_(), make_user("oncall"))
    world.at(10)
    with world.committed():
        update_alert(alert, Principal(user=make_user("lead")), acknowledged=False)
    world.at(60)
    world.run_pass()
    assert world.sent() == [("firing", "chat"), ("acknowledged", "chat"), ("repeat", "chat")]


def test_a_pass_with_nothing_due_costs_the_same_few_queries_however_many_alerts_are_open(
        world, django_assert_max_num_queries):
    Silence.objects.create(team=world.team, matchers={"severity": "info"}, ends_at=T0 + timedelta(days=1))
    for n in range(30):
        world.raise_(key=f"k{n}", severity=["info", "warning", "critical"][n % 3])
    world.at(1)
    with django_assert_max_num_queries(10):
        assert world.run_pass() == 0
