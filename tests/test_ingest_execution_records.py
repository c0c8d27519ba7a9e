"""monitoring's ingestion for a source that knows each execution's outcome (the n8n mirror):
"execution" records set the final state and times whatever the logs implied, and replace=True
makes sending an execution again rewrite its logs and errors instead of adding to them."""

from datetime import datetime, timedelta, timezone

import pytest

from monitoring.ingest import ingest
from monitoring.models import Execution, ExecutionLog, PerformanceMetric, WorkflowError

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _records(state="success", stopped=True, error=True):
    execution = {"workflow_id": "wf", "workflow_name": "Orders", "execution_id": "7", "state": state,
                 "mode": "webhook", "started_at": START, "total_steps": 3}
    if stopped:
        execution.update(stopped_at=START + timedelta(seconds=2), duration_ms=2000)
    records = {
        "execution": [execution],
        "log": [{"workflow_id": "wf", "execution_id": "7", "log_level": "info", "message": f"step {i}",
                 "node_name": f"Node {i}", "step_number": i, "timestamp": START + timedelta(milliseconds=100 * i)}
                for i in (1, 2)],
        "error": [],
        "performance": [{"workflow_id": "wf", "execution_id": "7", "total_duration": 1500, "node_count": 2,
                         "successful_nodes": 2, "failed_nodes": 0, "timestamp": START + timedelta(seconds=2)}]
        if stopped else [],
    }
    if error:
        # A node error the workflow went past (continue on fail): the run still succeeded.
        records["error"].append({"workflow_id": "wf", "execution_id": "7", "error_type": "network",
                                 "error_message": "refused", "severity": "medium", "node_name": "Node 2",
                                 "timestamp": START + timedelta(milliseconds=300)})
    return records


@pytest.mark.django_db
def test_the_execution_record_sets_the_outcome_not_the_logs(team):
    ingest(team, _records(), source="n8n:1", replace=True)
    execution = Execution.objects.get(external_id="7")
    assert (execution.state, execution.mode, execution.started_at) == ("success", "webhook", START)
    assert (execution.stopped_at, execution.duration_ms) == (START + timedelta(seconds=2), 2000)
    assert execution.total_steps == 3


@pytest.mark.django_db
def test_sending_an_execution_again_with_replace_adds_nothing(team):
    for _ in range(3):
        ingest(team, _records(), source="n8n:1", replace=True)
    assert (Execution.objects.count(), ExecutionLog.objects.count(), WorkflowError.objects.count(),
            PerformanceMetric.objects.count()) == (1, 2, 1, 1)


@pytest.mark.django_db
def test_a_waiting_execution_stays_waiting_then_finishes_as_told(team):
    ingest(team, _records(state="waiting", stopped=False, error=False), source="n8n:1", replace=True)
    execution = Execution.objects.get(external_id="7")
    assert (execution.state, execution.stopped_at, execution.duration_ms) == ("waiting", None, None)
    assert execution.current_step == "Node 2"
    ingest(team, _records(state="error", error=False), source="n8n:1", replace=True)
    execution.refresh_from_db()
    assert (execution.state, execution.duration_ms) == ("error", 2000)
    assert ExecutionLog.objects.count() == 2


@pytest.mark.django_db
def test_without_replace_logs_add_up_as_before(team):
    # REST clients post logs in pieces; only a source that sends whole executions replaces.
    ingest(team, _records(), source="api")
    ingest(team, _records(), source="api")
    assert ExecutionLog.objects.count() == 4


@pytest.mark.django_db
def test_retry_of_names_an_execution_of_the_same_workflow(team):
    first = _records()
    retry = _records()
    retry["execution"][0].update(execution_id="8", retry_of="7")
    for kind in ("log", "error", "performance"):
        for r in retry[kind]:
            r["execution_id"] = "8"
    ingest(team, first, source="n8n:1", replace=True)
    ingest(team, retry, source="n8n:1", replace=True)
    assert Execution.objects.get(external_id="8").retry_of == Execution.objects.get(external_id="7")


@pytest.mark.django_db
def test_an_execution_record_carries_the_sources_metadata_masked(team):
    records = _records()
    records["execution"][0]["metadata"] = {"n8n_custom_data": {"order_id": "A-1001", "api_token": "s3cr3t-value"}}
    ingest(team, records, source="n8n:1", replace=True)
    execution = Execution.objects.get(external_id="7")
    assert execution.metadata == {"n8n_custom_data": {"order_id": "A-1001", "api_token": "********"}}
    # Sent again with other metadata it is replaced; a record without metadata leaves it as it is.
    records["execution"][0]["metadata"] = {"n8n_custom_data": {"order_id": "A-1002"}}
    ingest(team, records, source="n8n:1", replace=True)
    assert Execution.objects.get(external_id="7").metadata == {"n8n_custom_data": {"order_id": "A-1002"}}
    ingest(team, _records(), source="n8n:1", replace=True)
    assert Execution.objects.get(external_id="7").metadata == {"n8n_custom_data": {"order_id": "A-1002"}}


@pytest.mark.django_db
def test_executions_without_metadata_have_none(team):
    ingest(team, _records(), source="n8n:1", replace=True)
    assert Execution.objects.get(external_id="7").metadata == {}



@pytest.mark.django_db
def test_the_rest_api_shows_an_executions_metadata(team, api):
    records = _records()
    records["execution"][0]["metadata"] = {"n8n_custom_data": {"order_id": "A-1001"}}
    ingest(team, records, source="n8n:1", replace=True)
    listed = api.get("/api/v1/executions/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["metadata"] for row in rows] == [{"n8n_custom_data": {"order_id": "A-1001"}}]


def _many(n):
    """One batch about n executions of one workflow, each with its own outcome (the n8n mirror's
    batches), the second a retry of the first."""
    records = {"execution": [], "log": [], "error": [], "performance": []}
    for i in range(n):
        state = ("success", "error", "canceled", "waiting")[i % 4]
        execution = {"workflow_id": "wf", "workflow_name": "Orders", "execution_id": str(100 + i), "state": state,
                     "mode": ("webhook", "trigger")[i % 2], "started_at": START + timedelta(minutes=i),
                     "total_steps": i + 1, "metadata": {"n8n_custom_data": {"order": f"A-{i}"}}}
        if state != "waiting":
            execution.update(stopped_at=START + timedelta(minutes=i, seconds=i + 1), duration_ms=(i + 1) * 1000)
        if i == 1:
            execution["retry_of"] = "100"
        records["execution"].append(execution)
        records["log"].append({"workflow_id": "wf", "execution_id": str(100 + i), "log_level": "info",
                               "message": "step", "node_name": f"Node {i}", "step_number": 1,
                               "timestamp": START + timedelta(minutes=i, milliseconds=100)})
    return records


@pytest.mark.django_db
def test_a_batch_about_many_executions_saves_each_ones_outcome(team):
    # Several executions are saved by one set-wise UPDATE: every field must land on its own row.
    records = _many(6)
    ingest(team, records, source="n8n:1", replace=True)
    stored = {e.external_id: e for e in Execution.objects.all()}
    assert len(stored) == 6
    for sent in records["execution"]:
        e = stored[sent["execution_id"]]
        assert (e.state, e.mode, e.started_at, e.total_steps) == (
            sent["state"], sent["mode"], sent["started_at"], sent["total_steps"])
        assert e.stopped_at == sent.get("stopped_at") and e.duration_ms == sent.get("duration_ms")
        assert e.metadata == sent["metadata"]
        i = int(sent["execution_id"]) - 100
        assert (e.current_step, e.step_number) == (f"Node {i}", 1)
    assert stored["101"].retry_of == stored["100"]
    # Sent again, as the mirror re-reads runs: the same rows, nothing added.
    ingest(team, _many(6), source="n8n:1", replace=True)
    assert Execution.objects.count() == 6 and ExecutionLog.objects.count() == 6
