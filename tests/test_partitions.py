"""Daily partitions of the execution logs (PostgreSQL): created ahead, any timestamp accepted,
retention dropping only whole expired days (archived first when asked) and deleting the rest in
chunks, archives loaded back; and retention's set-wise delete of executions leaving no orphans."""

import gzip
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from alerts.models import AlertNotification
from monitoring import partitions, retention
from monitoring.ingest import ingest
from monitoring.models import Alert, Execution, ExecutionLog, PerformanceMetric, WorkflowError
from monitoring.schemas import validate_records

LONG = 10_000  # days: a retention that keeps everything but what a test means to expire


def keep_all_but(logs=LONG, **others):
    days = {name: LONG for name, _, _ in retention.TARGETS}
    return {**days, "logs": logs, **others}


def post_logs(team, execution, n):
    logs = [{"workflow_id": "wf-1", "execution_id": execution, "log_level": "info", "message": f"{execution} {i}"}
            for i in range(n)]
    ingest(team, {"log": validate_records("log", logs)[0]})
    return ExecutionLog.objects.filter(execution__external_id=execution)


def age_logs(execution, when):
    """Set the logs' timestamps as if they had arrived then (the rows move to that day's partition)."""
    ExecutionLog.objects.filter(execution__external_id=execution).update(timestamp=when)


def partition_of(log):
    with connection.cursor() as c:
        c.execute(f"SELECT tableoid::regclass::text FROM {partitions.PARENT} WHERE id = %s", [log.pk])
        return c.fetchone()[0]


def rows(queryset):
    return sorted(queryset.values_list("id", "workflow_id", "execution_id", "log_level", "message", "timestamp",
                                       "node_id", "node_name", "step_number", "duration", "metadata"))


@pytest.fixture
def today():
    return timezone.now().astimezone(UTC).date()


def test_the_log_table_is_partitioned_by_day_with_the_coming_days_created(db, today):
    assert partitions.is_partitioned()
    created = partitions.ensure_partitions(days_ahead=7)
    days = partitions.list_partitions()
    assert all(today + timedelta(days=d) in days for d in range(8))
    assert partitions.ensure_partitions(days_ahead=7) == [] and len(created) <= 8  # nothing twice


def test_creating_partitions_is_scheduled_for_beat(db):
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    task = PeriodicTask.objects.get(task="monitoring.tasks.create_log_partitions")
    assert task.enabled and task.crontab.hour == "0"
    app.loader.import_default_modules()
    assert "monitoring.tasks.create_log_partitions" in app.tasks


def test_a_log_far_in_the_past_is_still_ingested(team):
    when = datetime(1990, 1, 1, tzinfo=UTC)
    logs = [{"workflow_id": "wf-1", "execution_id": "e-far", "log_level": "info", "message": "far",
             "timestamp": when.isoformat()}]
    ingest(team, {"log": validate_records("log", logs)[0]})
    log = ExecutionLog.objects.get()
    assert log.timestamp == when and log.message == "far"
    assert partition_of(log) == partitions.DEFAULT


def test_a_log_far_in_the_future_is_still_stored(team):
    # Ingest refuses records more than an hour ahead; any other writer still finds a place.
    post_logs(team, "e-far", 1)
    execution = Execution.objects.get()
    when = datetime(2100, 6, 30, tzinfo=UTC)
    log = ExecutionLog.objects.create(workflow=execution.workflow, execution=execution, log_level="info",
                                      message="future", timestamp=when)
    assert ExecutionLog.objects.get(message="future").timestamp == when
    assert partition_of(log) == partitions.DEFAULT


def test_a_day_in_the_default_partition_moves_into_its_own_partition_when_created(team, today):
    day = today + timedelta(days=40)  # beyond the days created ahead
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    log = post_logs(team, "e-later", 2).first()
    age_logs("e-later", when)
    assert partition_of(log) == partitions.DEFAULT
    partitions.ensure_partitions(days_ahead=40)
    assert partition_of(log) == partitions.partition_name(day)
    assert ExecutionLog.objects.filter(timestamp=when).count() == 2


def test_retention_drops_only_whole_expired_partitions_and_deletes_the_rest_in_chunks(team, today):
    partitions.ensure_partitions(days_back=12)
    now = timezone.now()
    post_logs(team, "e-10", 4)
    age_logs("e-10", now - timedelta(days=10))
    post_logs(team, "e-7", 3)
    age_logs("e-7", now - timedelta(days=7))
    # The cut-off falls inside this log's day: its partition stays, its expired rows go by chunks.
    post_logs(team, "e-5", 3)
    age_logs("e-5", now - timedelta(days=5, minutes=5))
    post_logs(team, "e-5-kept", 2)
    age_logs("e-5-kept", now - timedelta(days=5) + timedelta(minutes=5))
    post_logs(team, "e-1", 5)
    age_logs("e-1", now - timedelta(days=1))
    before = set(partitions.list_partitions())
    straddling = (now - timedelta(days=5)).astimezone(UTC).date()

    dry = retention.prune(keep_all_but(logs=5), dry_run=True)
    assert dry.deleted["logs"] == 10 and ExecutionLog.objects.count() == 17

    calls = []
    run = retention.prune(keep_all_but(logs=5), chunk=2, progress=lambda name, total: calls.append)
    assert run.deleted["logs"] == 10
    after = set(partitions.list_partitions())
    assert {day for day in before - after} == {day for day in before if day < straddling}
    assert straddling in after
    assert sorted(ExecutionLog.objects.values_list("execution__external_id", flat=True).distinct()) == [
        "e-1", "e-5-kept"]
    assert [n for n in calls if n] == [4, 3, 2, 1]  # two dropped partitions (and empty ones), then chunks of 2


def test_default_partition_rows_are_pruned_in_chunks(team):
    post_logs(team, "e-old", 5)
    age_logs("e-old", timezone.now() - timedelta(days=400))
    assert partition_of(ExecutionLog.objects.first()) == partitions.DEFAULT
    calls = []
    run = retention.prune(keep_all_but(logs=90), chunk=2, progress=lambda name, total: calls.append)
    assert run.deleted["logs"] == 5 and calls == [2, 2, 1]
    assert not ExecutionLog.objects.exists()


def test_an_archived_partition_loads_back_as_the_same_rows(team, tmp_path, settings, capsys):
    settings.FLOWTOWER_ARCHIVE_DIR = str(tmp_path)
    partitions.ensure_partitions(days_back=12)
    when = timezone.now() - timedelta(days=10)
    post_logs(team, "e-archived", 3)
    ExecutionLog.objects.filter(message="e-archived 1").update(metadata={"items": 7, "note": 'a "quoted", line\n2'})
    age_logs("e-archived", when)
    expected = rows(ExecutionLog.objects.all())

    retention.prune(keep_all_but(logs=5))
    assert not ExecutionLog.objects.exists()
    path = partitions.archive_path(tmp_path, partitions.partition_name(when.astimezone(UTC).date()))
    assert path.is_file() and gzip.open(path, "rt").readline().startswith("id,")

    call_command("load_archive", str(path))
    assert "loaded 3 logs" in capsys.readouterr().out
    assert rows(ExecutionLog.objects.all()) == expected
    with pytest.raises(CommandError, match="nothing loaded"):  # the same rows again: refused, all of them
        call_command("load_archive", str(path))
    assert ExecutionLog.objects.count() == 3


def test_without_an_archive_directory_nothing_is_written(team, tmp_path, settings):
    settings.FLOWTOWER_ARCHIVE_DIR = ""
    partitions.ensure_partitions(days_back=12)
    post_logs(team, "e-gone", 2)
    age_logs("e-gone", timezone.now() - timedelta(days=10))
    assert retention.prune(keep_all_but(logs=5)).deleted["logs"] == 2
    assert list(tmp_path.iterdir()) == []


def seed_execution(team, external_id, age_days):
    base = {"workflow_id": "wf-1", "execution_id": external_id}
    raw = {
        "log": [{**base, "log_level": "info", "message": f"{external_id} {i}"} for i in range(3)],
        "error": [{**base, "error_message": "x"}],
        "performance": [{**base, "total_duration": 10}],
        "alert": [{**base, "alert_type": "error", "severity": "warning", "title": f"t {external_id}"}],
    }
    ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()})
    Execution.objects.filter(external_id=external_id).update(started_at=timezone.now() - timedelta(days=age_days))
    return Execution.objects.get(external_id=external_id)


def test_deleting_executions_leaves_no_orphans_and_keeps_alerts_and_retries(team):
    old = seed_execution(team, "e-old", 30)
    kept = seed_execution(team, "e-new", 1)
    Execution.objects.filter(pk=kept.pk).update(retry_of=old)
    alert = Alert.objects.get(execution=old)
    AlertNotification.objects.create(alert=alert)
    # Only executions expire: the old execution's logs (in today's partition), error, metrics and
    # alert are within their own retention.
    run = retention.prune(keep_all_but(executions=7), chunk=1)

    assert run.deleted["executions"] == 1
    assert list(Execution.objects.values_list("external_id", flat=True)) == ["e-new"]
    assert Execution.objects.get().retry_of is None
    for model in (ExecutionLog, WorkflowError, PerformanceMetric):
        assert not model.objects.exclude(execution_id__in=Execution.objects.values("pk")).exists(), model
        assert model.objects.filter(execution=kept).exists()
    alert.refresh_from_db()
    assert alert.execution is None and AlertNotification.objects.filter(alert=alert).exists()


def test_deleting_alerts_deletes_what_the_alerting_engine_kept_of_them(team):
    seed_execution(team, "e-alerted", 30)
    alert = Alert.objects.get()
    Alert.objects.filter(pk=alert.pk).update(timestamp=alert.timestamp - timedelta(days=30),
                                             last_seen_at=alert.timestamp - timedelta(days=30))
    AlertNotification.objects.create(alert=alert)
    run = retention.prune(keep_all_but(alerts=7))
    assert run.deleted["alerts"] == 1
    assert not Alert.objects.exists() and not AlertNotification.objects.exists()


def test_deleting_an_execution_through_django_leaves_no_orphans(team):
    # The keys to executions have no database constraint: Django's on_delete is what keeps them whole.
    old = seed_execution(team, "e-deleted", 1)
    retry = seed_execution(team, "e-retry", 1)
    Execution.objects.filter(pk=retry.pk).update(retry_of=old)
    alert = Alert.objects.get(execution=old)
    old.delete()
    assert not ExecutionLog.objects.filter(execution_id=old.pk).exists()
    assert not WorkflowError.objects.filter(execution_id=old.pk).exists()
    assert not PerformanceMetric.objects.filter(execution_id=old.pk).exists()
    alert.refresh_from_db()
    retry.refresh_from_db()
    assert alert.execution is None and retry.retry_of is None
