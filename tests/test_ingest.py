"""The ingestion path: state rules, events after commit, bounded queries for a batch."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import events
from monitoring.ingest import ingest
from monitoring.models import Execution, ExecutionLog, Workflow
from monitoring.schemas import validate_records


def records(kind, *items):
    valid, errors = validate_records(kind, list(items))
    assert not errors, errors
    return valid


def log(execution_id="e1", workflow_id="wf-1", **kw):
    return {"workflow_id": workflow_id, "execution_id": execution_id, "log_level": "info", "message": "m", **kw}


@pytest.fixture
def captured():
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    events.monitoring_event.connect(receiver)
    yield seen
    events.monitoring_event.disconnect(receiver)


def test_first_record_registers_workflow_and_execution(team):
    ts = timezone.now() - timedelta(minutes=5)
    ingest(team, {"log": records("log", log(timestamp=ts.isoformat(), workflow_name="Orders"))})
    workflow = Workflow.objects.get(team=team, external_id="wf-1")
    assert workflow.name == "Orders" and workflow.source == "api"
    execution = Execution.objects.get(workflow=workflow, external_id="e1")
    assert execution.state == "running"
    assert execution.started_at == ts


def test_log_moves_waiting_to_running_and_sets_step(team):
    ingest(team, {"log": records("log", log())})
    Execution.objects.update(state="waiting")
    ingest(team, {"log": records("log", log(node_name="Transform", step_number=2))})
    execution = Execution.objects.get()
    assert (execution.state, execution.current_step, execution.step_number) == ("running", "Transform", 2)


def test_error_finishes_execution_and_later_performance_keeps_error(team):
    start = timezone.now() - timedelta(seconds=10)
    ingest(team, {"log": records("log", log(timestamp=start.isoformat()))})
    ingest(team, {"error": records("error", {"workflow_id": "wf-1", "execution_id": "e1", "error_message": "boom",
                                              "timestamp": (start + timedelta(seconds=3)).isoformat()})})
    execution = Execution.objects.get()
    assert execution.state == "error"
    assert execution.duration_ms == 3000
    ingest(team, {"performance": records("performance", {"workflow_id": "wf-1", "execution_id": "e1",
                                                          "total_duration": 3500, "failed_nodes": 0})})
    execution.refresh_from_db()
    assert execution.state == "error" and execution.duration_ms == 3500


@pytest.mark.parametrize("failed, state", [(0, "success"), (2, "error")])
def test_performance_finishes_execution(team, failed, state):
    ingest(team, {"log": records("log", log())})
    ingest(team, {"performance": records("performance", {"workflow_id": "wf-1", "execution_id": "e1",
                                                          "total_duration": 1200, "node_count": 4,
                                                          "failed_nodes": failed})})
    execution = Execution.objects.get()
    assert execution.state == state
    assert execution.duration_ms == 1200 and execution.total_steps == 4
    assert execution.stopped_at == execution.started_at + timedelta(milliseconds=1200)


def test_same_workflow_id_in_two_teams_stays_apart(team, other_team):
    ingest(team, {"log": records("log", log())})
    ingest(other_team, {"log": records("log", log())})
    assert Workflow.objects.filter(external_id="wf-1").count() == 2
    assert ExecutionLog.objects.filter(workflow__team=team).count() == 1


def test_events_are_published_after_commit_only(team, captured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                ingest(team, {"log": records("log", log())})
                raise RuntimeError("rolled back")
    assert captured == []
    with django_capture_on_commit_callbacks(execute=True):
        ingest(team, {"log": records("log", log())})
    kinds = sorted(e.type for e in captured)
    assert kinds == ["execution", "log"]
    log_event = next(e for e in captured if e.type == "log")
    assert log_event.team_id == team.pk and log_event.data["workflow_id"] == "wf-1"


def test_failing_listener_does_not_fail_ingest(team, captured, django_capture_on_commit_callbacks):
    def broken(sender, event, **kwargs):
        raise ValueError("listener bug")

    events.monitoring_event.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest(team, {"log": records("log", log())})
    finally:
        events.monitoring_event.disconnect(broken)
    assert ExecutionLog.objects.count() == 1
    assert len(captured) == 2


def test_batch_query_count_does_not_grow_with_size(team):
    def run(n, prefix):
        items = [log(execution_id=f"{prefix}-{i % 10}", workflow_id=f"{prefix}-wf-{i % 3}", node_name=f"n{i}") for i in range(n)]
        valid = records("log", *items)
        with CaptureQueriesContext(connection) as ctx:
            ingest(team, {"log": valid})
        return len(ctx.captured_queries)

    small, large = run(20, "a"), run(400, "b")
    assert large == small
    assert ExecutionLog.objects.count() == 420
