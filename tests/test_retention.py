"""Retention: per-type cut-offs, chunked deletes, dry runs, the command, the task, the API."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from monitoring import retention
from monitoring.ingest import ingest
from monitoring.models import Alert, Execution, ExecutionLog, PerformanceMetric, RetentionRun, WorkflowError
from monitoring.schemas import validate_records
from monitoring.tasks import prune_old_data

URL = "/api/workflows/monitoring"


def seed(team, age_days, n_logs=3, execution="e"):
    """Records of one execution, `age_days` old. Timestamps are set after ingestion, as if the
    data had arrived back then."""
    base = {"workflow_id": "wf-1", "execution_id": f"{execution}-{age_days}"}
    raw = {
        "log": [{**base, "log_level": "info", "message": f"m{i}"} for i in range(n_logs)],
        "error": [{**base, "error_message": "x"}],
        "performance": [{**base, "total_duration": 10}],
        # One alert per execution (the same title twice would be one alert, seen twice).
        "alert": [{**base, "alert_type": "error", "severity": "warning", "title": f"t {base['execution_id']}"}],
    }
    result = ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()})
    when = timezone.now() - timedelta(days=age_days)
    for model in (ExecutionLog, WorkflowError, PerformanceMetric):
        model.objects.filter(execution__external_id=base["execution_id"]).update(timestamp=when)
    Alert.objects.filter(execution__external_id=base["execution_id"]).update(timestamp=when, last_seen_at=when)
    Execution.objects.filter(external_id=base["execution_id"]).update(started_at=when)
    return result


def counts():
    return {m.__name__: m.objects.count() for m in (ExecutionLog, WorkflowError, PerformanceMetric, Alert, Execution)}


def test_default_retention_is_per_type(team):
    seed(team, 10)
    seed(team, 100)   # past logs' 90 days, within the others' 180
    seed(team, 200)   # past everything
    run = retention.prune(trigger="test")
    assert run.deleted == {"logs": 6, "errors": 1, "performance": 1, "alerts": 1, "executions": 1}
    assert counts() == {"ExecutionLog": 3, "WorkflowError": 2, "PerformanceMetric": 2, "Alert": 2, "Execution": 2}


def test_an_old_alert_still_being_seen_is_kept(team):
    # First seen 200 days ago, but repeated (deduplicated) yesterday: it is still happening, so
    # retention must not delete it (its next repeat would otherwise start over as a new alert).
    seed(team, 200)
    seed(team, 201)
    Alert.objects.filter(execution__external_id="e-200").update(last_seen_at=timezone.now() - timedelta(days=1))
    run = retention.prune(trigger="test")
    assert run.deleted["alerts"] == 1
    assert list(Alert.objects.values_list("title", flat=True)) == ["t e-200"]  # its execution is gone


def test_deletes_in_bounded_chunks(team, django_assert_max_num_queries):
    seed(team, 200, n_logs=25)
    calls = []
    run = retention.prune(chunk=10, progress=lambda name, total: (lambda n: calls.append((name, n))))
    assert run.deleted["logs"] == 25
    assert [n for name, n in calls if name == "logs"] == [10, 10, 5]
    assert ExecutionLog.objects.count() == 0


def test_dry_run_counts_and_deletes_nothing(team):
    seed(team, 200)
    before = counts()
    run = retention.prune(dry_run=True)
    assert run.deleted["logs"] == 3 and run.dry_run
    assert counts() == before


@override_settings(FLOWTOWER_RETENTION_DAYS={"logs": 5, "errors": 5, "performance": 5, "alerts": 5, "executions": 5})
def test_task_uses_settings_and_records_the_run(team):
    seed(team, 10)
    prune_old_data.delay()
    assert counts()["ExecutionLog"] == 0
    run = RetentionRun.objects.get()
    assert run.trigger == "task" and run.deleted["logs"] == 3 and run.finished_at is not None


def test_prune_command_dry_run_and_real(team, capsys):
    seed(team, 200)
    call_command("prune", "--dry-run")
    out = capsys.readouterr().out
    assert "logs: would delete 3" in out
    assert ExecutionLog.objects.count() == 3
    call_command("prune")
    out = capsys.readouterr().out
    assert "logs: deleted 3" in out
    assert ExecutionLog.objects.count() == 0


def test_prune_command_days_option(team, capsys):
    seed(team, 40)
    call_command("prune", "--days", "30")
    assert "alerts: deleted 1 (older than 30 days)" in capsys.readouterr().out


def test_delete_endpoint_for_super_admin(team, make_user, client_for):
    seed(team, 100)
    seed(team, 10)
    admin = make_user("root", superuser=True)
    r = client_for(admin).delete(f"{URL}?retention_days=90")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert body["data"]["deleted"] == {"logs": 3, "errors": 1, "performance": 1, "alerts": 1, "executions": 1}
    assert counts()["ExecutionLog"] == 3


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_delete_endpoint_refused_for_team_roles(team, make_user, client_for, role):
    seed(team, 100)
    r = client_for(make_user(f"u-{role}", team, role)).delete(f"{URL}?retention_days=1")
    assert r.status_code == 403
    assert r.json()["success"] is False
    assert ExecutionLog.objects.count() == 3


def test_retention_is_scheduled_in_the_database_for_beat(db):
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    task = PeriodicTask.objects.get(task="monitoring.tasks.prune_old_data")
    assert task.enabled and task.crontab.hour == "3"
    app.loader.import_default_modules()
    assert "monitoring.tasks.prune_old_data" in app.tasks
