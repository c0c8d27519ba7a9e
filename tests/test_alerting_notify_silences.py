"""Silences in the pipeline: a silenced alert is recorded and marked but not notified; when the
silence ends (it expires, its weekly window closes — across a DST change too — or it is deleted)
while the alert still fires, it is notified then; a new silence marks open alerts at once."""

from datetime import UTC, datetime, time, timedelta

from alerts.models import Silence
from monitoring.models import Alert

from alerting_notify_world import T0, clock, world  # noqa: F401  (fixtures)


def silence(world, ends_in_minutes=60, **fields):
    with world.committed():
        return Silence.objects.create(team=world.team, starts_at=fields.pop("starts_at", T0),
                                      ends_at=fields.pop("ends_at", T0 + timedelta(minutes=ends_in_minutes)),
                                      created_by="ops", **fields)


def test_a_silenced_alert_is_recorded_and_marked_but_not_notified(world):
    silence(world, matchers={"workflow": "wf-orders"})
    alert = world.raise_()
    world.raise_()
    assert Alert.objects.filter(pk=alert.pk, silenced=True, occurrences=2).exists()
    assert world.sent() == []
    # Another workflow's alert is not silenced.
    other = world.raise_(workflow="invoices")
    assert not Alert.objects.get(pk=other.pk).silenced
    assert world.sent() == [("firing", "chat")]


def test_when_the_silence_expires_the_still_firing_alert_is_notified_by_the_pass(world):
    silence(world, ends_in_minutes=30)
    alert = world.raise_()
    world.at(29)
    world.run_pass()
    assert world.sent() == []
    world.at(31)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]
    assert not Alert.objects.get(pk=alert.pk).silenced
    world.at(32)
    world.run_pass()
    assert world.sent() == [("firing", "chat")]


def test_an_alert_that_resolved_while_silenced_is_never_notified(world):
    silence(world, ends_in_minutes=30)
    alert = world.raise_()
    world.at(10)
    world.clear(alert)
    world.at(31)
    world.run_pass()
    assert world.sent() == []


def test_a_new_silence_marks_open_alerts_at_once_and_deleting_it_lets_them_through(world):
    alert = world.raise_(workflow="invoices")
    assert world.sent() == [("firing", "chat")]
    muting = silence(world, matchers={"workflow": "wf-orders"})
    quiet = world.raise_()
    assert Alert.objects.get(pk=quiet.pk).silenced and not Alert.objects.get(pk=alert.pk).silenced
    with world.committed():
        muting.delete()
    assert not Alert.objects.get(pk=quiet.pk).silenced
    assert world.sent(quiet) == [("firing", "chat")]


def test_a_weekly_maintenance_window_across_the_spring_forward_change(world):
    # Every Sunday 02:00–04:00 Berlin time. On 30 March 2025 the clocks jump from 02:00 CET to
    # 03:00 CEST: the window is 03:00–04:00 CEST, i.e. 01:00–02:00 UTC.
    silence(world, starts_at=datetime(2025, 1, 1, tzinfo=UTC), ends_at=datetime(2026, 1, 1, tzinfo=UTC),
            weekdays=[7], daily_start=time(2), duration_minutes=120, time_zone="Europe/Berlin")
    world.clock.move_to(datetime(2025, 3, 30, 0, 50, tzinfo=UTC))  # 01:50 CET: before the window
    before = world.raise_(key="before")
    world.clock.move_to(datetime(2025, 3, 30, 1, 30, tzinfo=UTC))  # 03:30 CEST: inside
    during = world.raise_(key="during")
    assert world.sent() == [("firing", "chat")] and world.sent(before)
    assert Alert.objects.get(pk=during.pk).silenced
    world.clock.move_to(datetime(2025, 3, 30, 1, 59, tzinfo=UTC))
    world.run_pass()
    assert world.sent(during) == []
    world.clock.move_to(datetime(2025, 3, 30, 2, 0, tzinfo=UTC))  # 04:00 CEST: the window closed
    world.run_pass()
    assert world.sent(during) == [("firing", "chat")]


def test_a_weekly_maintenance_window_across_the_fall_back_change(world):
    # On 26 October 2025 02:00–03:00 happens twice in Berlin: the window runs from the first
    # 02:00 (CEST, 00:00 UTC) to 04:00 CET (03:00 UTC) and mutes the repeated hour too.
    silence(world, starts_at=datetime(2025, 1, 1, tzinfo=UTC), ends_at=datetime(2026, 1, 1, tzinfo=UTC),
            weekdays=[7], daily_start=time(2), duration_minutes=120, time_zone="Europe/Berlin")
    world.clock.move_to(datetime(2025, 10, 26, 1, 30, tzinfo=UTC))  # 02:30 CET, the second pass
    alert = world.raise_()
    assert Alert.objects.get(pk=alert.pk).silenced
    world.clock.move_to(datetime(2025, 10, 26, 2, 59, tzinfo=UTC))  # 03:59 CET
    world.run_pass()
    assert world.sent() == []
    world.clock.move_to(datetime(2025, 10, 26, 3, 0, tzinfo=UTC))  # 04:00 CET
    world.run_pass()
    assert world.sent() == [("firing", "chat")]
    assert not Alert.objects.get(pk=alert.pk).silenced
