"""README, "Retention and background work": retention runs as the beat task
monitoring.tasks.prune_old_data, daily at 03:17 UTC, from a schedule stored in the database."""

from datetime import datetime, timezone

from django_celery_beat.models import PeriodicTask


def test_retention_runs_daily_at_03_17_utc(db):
    task = PeriodicTask.objects.select_related("crontab").get(task="monitoring.tasks.prune_old_data")
    assert task.enabled and task.interval is None and task.one_off is False
    crontab = task.crontab
    assert (crontab.minute, crontab.hour) == ("17", "3")
    assert (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == ("*", "*", "*")
    assert str(crontab.timezone) == "UTC"


def next_run_after(last_run):
    schedule = PeriodicTask.objects.get(task="monitoring.tasks.prune_old_data").crontab.schedule
    last, delta, _ = schedule.remaining_delta(last_run)
    return (last + delta).astimezone(timezone.utc)


def test_beat_computes_the_next_run_at_03_17_utc(db):
    # Around the night European clocks change, so a schedule in local time would show.
    assert next_run_after(datetime(2026, 3, 28, 3, 17, tzinfo=timezone.utc)) == datetime(
        2026, 3, 29, 3, 17, tzinfo=timezone.utc)
    assert next_run_after(datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)) == datetime(
        2026, 3, 29, 3, 17, tzinfo=timezone.utc)
