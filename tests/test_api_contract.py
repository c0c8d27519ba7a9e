"""The contract of the monitoring endpoint (/api/workflows/monitoring, docs/monitoring-endpoint.md),
against the real database: every example request of its reference and of the TypeScript client's
usage examples, as written; what each writes and what the GETs read back; the execution state
rules of monitoring/ingest.py that live status and the dashboard are computed from; and the example
requests of docs/monitoring-endpoint.md itself, sent in order, answered as the document shows."""

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone
from pathlib import Path

import pytest
from django.utils import timezone

from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    PerformanceMetric,
    RetentionRun,
    ServiceToken,
    Workflow,
    WorkflowError,
)

URL = "/api/workflows/monitoring"

# The request bodies of the endpoint's reference examples (docs/monitoring-endpoint.md), verbatim.
EXAMPLE_LOG = {
    "workflow_id": "wf-001",
    "execution_id": "exec-123",
    "log_level": "info",
    "message": "Processing step completed",
    "node_name": "Data Processor",
    "step_number": 3,
    "duration": 1500,
    "metadata": {"records_processed": 1000, "memory_used": 64000000},
}
EXAMPLE_ERROR = {
    "workflow_id": "wf-001",
    "execution_id": "exec-123",
    "error_type": "network",
    "error_message": "Connection timeout to external API",
    "error_code": "TIMEOUT_001",
    "node_name": "API Connector",
    "severity": "high",
    "error_stack": "Error: Connection timeout...",
    "metadata": {"timeout_duration": 30000, "retry_count": 3},
}
EXAMPLE_PERFORMANCE = {
    "workflow_id": "wf-001",
    "execution_id": "exec-123",
    "total_duration": 45000,
    "node_count": 6,
    "successful_nodes": 5,
    "failed_nodes": 1,
    "memory_peak": 134217728,
    "memory_average": 67108864,
    "cpu_peak": 85.5,
    "cpu_average": 45.2,
    "network_requests": 15,
    "network_data_transferred": 2048000,
    "throughput": 2.5,
    "bottleneck_nodes": ["API Node", "Database Node"],
}
EXAMPLE_ALERT = {
    "workflow_id": "wf-001",
    "alert_type": "performance",
    "severity": "warning",
    "title": "High Execution Time",
    "description": "Workflow execution time exceeded recommended threshold",
    "metadata": {"actual_duration": 45000, "threshold": 30000, "recommendation": "Consider optimizing API calls"},
}
EXAMPLE_ERROR_RESOLUTION = {
    "resolved": True,
    "resolution_notes": "Fixed by updating API timeout configuration",
    "resolved_by": "admin-user",
}
EXAMPLE_ALERT_ACKNOWLEDGEMENT = {"acknowledged": True, "acknowledged_by": "team-lead", "resolved": False}

LIVE_STATUS_FIELDS = {
    "workflow_id", "execution_id", "current_state", "progress_percentage", "current_step", "elapsed_time",
    "estimated_remaining_time", "error_count", "warning_count", "recent_logs",
}
DASHBOARD_FIELDS = {
    "total_executions", "successful_executions", "failed_executions", "success_rate", "total_errors",
    "critical_errors", "total_alerts", "unresolved_alerts", "average_execution_time", "system_health",
    "recent_activity",
}


def ok(response, status=200):
    """The success envelope: {"success": true, "data": ...}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True, body
    assert "data" in body
    return body["data"]


def post(api, kind, body):
    return ok(api.post(f"{URL}?type={kind}", body, format="json"), 201)


def get(api, query):
    return ok(api.get(f"{URL}?{query}"))


def iso(dt):
    """How a JavaScript client writes a time: Date.prototype.toISOString()."""
    return dt.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def ago(**kw):
    return timezone.now() - timedelta(**kw)


def execution(external_id="exec-123"):
    return Execution.objects.get(external_id=external_id)


def subset(data, body):
    return {k: data[k] for k in body}


# --- POST: each example body, as written --------------------------------------------------------------
def test_create_log_entry_is_stored_and_read_back(api, team):
    data = post(api, "log", EXAMPLE_LOG)
    assert subset(data, EXAMPLE_LOG) == EXAMPLE_LOG
    assert data["team"] == "acme" and data["id"] and data["timestamp"]

    row = ExecutionLog.objects.get(pk=data["id"])
    assert (row.log_level, row.message, row.node_name, row.step_number, row.duration) == (
        "info", "Processing step completed", "Data Processor", 3, 1500)
    assert row.metadata == {"records_processed": 1000, "memory_used": 64000000}
    assert row.workflow.team == team and row.workflow.external_id == "wf-001"

    listed = get(api, "type=logs&workflow_id=wf-001&log_levels=info,warn&limit=50")
    assert [d["id"] for d in listed] == [data["id"]]
    assert listed[0] == data


def test_create_error_entry_is_stored_and_read_back(api):
    data = post(api, "error", EXAMPLE_ERROR)
    assert subset(data, EXAMPLE_ERROR) == EXAMPLE_ERROR
    assert data["resolved"] is False and data["resolved_at"] is None and data["resolved_by"] == ""

    row = WorkflowError.objects.get(pk=data["id"])
    assert (row.error_type, row.error_code, row.severity, row.error_stack) == (
        "network", "TIMEOUT_001", "high", "Error: Connection timeout...")

    listed = get(api, "type=errors&workflow_id=wf-001&severity=high,critical&resolved=false")
    assert [d["id"] for d in listed] == [data["id"]]


def test_create_performance_metrics_is_stored_and_read_back(api):
    data = post(api, "performance", EXAMPLE_PERFORMANCE)
    assert subset(data, EXAMPLE_PERFORMANCE) == EXAMPLE_PERFORMANCE  # numbers come back as numbers (85.5, not "85.50")

    row = PerformanceMetric.objects.get(pk=data["id"])
    assert row.total_duration == 45000 and row.memory_peak == 134217728 and float(row.cpu_peak) == 85.5
    assert row.bottleneck_nodes == ["API Node", "Database Node"]
    assert row.execution.external_id == "exec-123"

    since = iso(ago(hours=1))
    listed = get(api, f"type=performance&workflow_id=wf-001&start_time={since}")
    assert [d["id"] for d in listed] == [data["id"]]


def test_create_alert_is_stored_and_read_back(api):
    data = post(api, "alert", EXAMPLE_ALERT)
    assert subset(data, EXAMPLE_ALERT) == EXAMPLE_ALERT
    assert data["acknowledged"] is False and data["resolved"] is False
    # The example alert names no execution: none is invented for it.
    assert data["execution_id"] is None and not Execution.objects.exists()

    row = Alert.objects.get(pk=data["id"])
    assert row.title == "High Execution Time" and row.metadata["threshold"] == 30000

    listed = get(api, "type=alerts&workflow_id=wf-001&acknowledged=false")
    assert [d["id"] for d in listed] == [data["id"]]


def test_batch_operations_write_every_list_and_are_read_back(api):
    body = {"logs": [EXAMPLE_LOG], "errors": [EXAMPLE_ERROR], "performance": [EXAMPLE_PERFORMANCE], "alerts": [EXAMPLE_ALERT]}
    data = post(api, "batch", body)
    assert data["created"] == {"logs": 1, "errors": 1, "performance": 1, "alerts": 1}
    assert {k: len(v) for k, v in data["ids"].items()} == data["created"]

    assert [d["id"] for d in get(api, "type=logs&workflow_id=wf-001")] == data["ids"]["logs"]
    assert [d["id"] for d in get(api, "type=errors&workflow_id=wf-001")] == data["ids"]["errors"]
    assert [d["id"] for d in get(api, "type=performance&workflow_id=wf-001")] == data["ids"]["performance"]
    assert [d["id"] for d in get(api, "type=alerts&workflow_id=wf-001")] == data["ids"]["alerts"]
    # One workflow and one execution, whatever the number of records naming them.
    assert Workflow.objects.count() == 1 and Execution.objects.count() == 1


# --- GET: each example query string, with what it must leave out --------------------------------------
def test_retrieve_logs_filters_by_workflow_and_levels(api):
    post(api, "log", {**EXAMPLE_LOG, "message": "first", "timestamp": iso(ago(minutes=5))})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "warn", "message": "slow", "timestamp": iso(ago(minutes=4))})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "debug", "message": "noise"})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "error", "message": "bad"})
    post(api, "log", {**EXAMPLE_LOG, "workflow_id": "wf-002", "message": "other workflow"})
    body = api.get(f"{URL}?type=logs&workflow_id=wf-001&log_levels=info,warn&limit=50").json()
    assert [d["message"] for d in body["data"]] == ["slow", "first"]  # newest first
    assert body["pagination"] == {"limit": 50, "offset": 0, "has_more": False}


def test_retrieve_logs_limit_defaults_to_50(api):
    post(api, "batch", {"logs": [{**EXAMPLE_LOG, "message": f"m{i}"} for i in range(55)]})
    body = api.get(f"{URL}?type=logs&workflow_id=wf-001").json()
    assert len(body["data"]) == 50 and body["pagination"]["has_more"] is True
    rest = api.get(f"{URL}?type=logs&workflow_id=wf-001&offset=50").json()
    assert len(rest["data"]) == 5 and rest["pagination"]["has_more"] is False
    assert not {d["id"] for d in body["data"]} & {d["id"] for d in rest["data"]}


def test_retrieve_logs_page_by_limit_and_offset(api):
    for i in range(5):
        post(api, "log", {**EXAMPLE_LOG, "message": f"m{i}", "timestamp": iso(ago(minutes=10 - i))})
    page = api.get(f"{URL}?type=logs&workflow_id=wf-001&limit=2&offset=1").json()
    assert [d["message"] for d in page["data"]] == ["m3", "m2"]
    assert page["pagination"] == {"limit": 2, "offset": 1, "has_more": True}
    last = api.get(f"{URL}?type=logs&workflow_id=wf-001&limit=2&offset=4").json()
    assert [d["message"] for d in last["data"]] == ["m0"] and last["pagination"]["has_more"] is False


def test_retrieve_logs_by_execution_and_time_range(api):
    for i in range(4):
        post(api, "log", {**EXAMPLE_LOG, "message": f"m{i}", "timestamp": iso(ago(minutes=40 - 10 * i))})
    post(api, "log", {**EXAMPLE_LOG, "execution_id": "exec-456", "message": "other run", "timestamp": iso(ago(minutes=25))})
    start, end = iso(ago(minutes=35)), iso(ago(minutes=15))
    data = get(api, f"type=logs&execution_id=exec-123&start_time={start}&end_time={end}")
    assert [d["message"] for d in data] == ["m2", "m1"]


def test_retrieve_errors_filters_by_severity_and_resolution(api):
    high = post(api, "error", EXAMPLE_ERROR)
    post(api, "error", {**EXAMPLE_ERROR, "severity": "low", "error_message": "minor"})
    critical = post(api, "error", {**EXAMPLE_ERROR, "severity": "critical", "error_message": "fatal"})
    fixed = post(api, "error", {**EXAMPLE_ERROR, "severity": "critical", "error_message": "fixed already"})
    ok(api.patch(f"{URL}?type=error&id={fixed['id']}", EXAMPLE_ERROR_RESOLUTION, format="json"))
    data = get(api, "type=errors&workflow_id=wf-001&severity=high,critical&resolved=false")
    assert {d["id"] for d in data} == {high["id"], critical["id"]}


def test_get_performance_metrics_since_a_time(api):
    old = post(api, "performance", {**EXAMPLE_PERFORMANCE, "execution_id": "exec-old", "timestamp": iso(ago(days=2))})
    new = post(api, "performance", EXAMPLE_PERFORMANCE)
    assert [d["id"] for d in get(api, f"type=performance&workflow_id=wf-001&start_time={iso(ago(days=1))}")] == [new["id"]]
    assert len(get(api, f"type=performance&workflow_id=wf-001&start_time={iso(ago(days=3))}")) == 2
    assert get(api, f"type=performance&workflow_id=wf-001&start_time={iso(ago(minutes=-30))}") == []
    # An unencoded "+00:00" offset arrives as a space; it still means UTC.
    since = ago(days=3).replace(microsecond=0).isoformat()
    assert "+00:00" in since
    assert {d["id"] for d in get(api, f"type=performance&workflow_id=wf-001&start_time={since}")} == {old["id"], new["id"]}


def test_get_alerts_not_yet_acknowledged(api):
    seen = post(api, "alert", EXAMPLE_ALERT)
    open_ = post(api, "alert", {**EXAMPLE_ALERT, "title": "Still open"})
    ok(api.patch(f"{URL}?type=alert&id={seen['id']}", EXAMPLE_ALERT_ACKNOWLEDGEMENT, format="json"))
    assert [d["id"] for d in get(api, "type=alerts&workflow_id=wf-001&acknowledged=false")] == [open_["id"]]
    assert [d["id"] for d in get(api, "type=alerts&workflow_id=wf-001&acknowledged=true")] == [seen["id"]]


def test_a_workflow_of_another_team_is_not_found(api, other_team, client_for):
    post(client_for(ServiceToken.issue(other_team, "ci")[1]), "log", EXAMPLE_LOG)
    r = api.get(f"{URL}?type=logs&workflow_id=wf-001")
    assert r.status_code == 404 and r.json()["success"] is False


# --- live status -----------------------------------------------------------------------------------------
def past_run(api, execution_id, duration, failed_nodes=0, started_hours_ago=2):
    post(api, "log", {**EXAMPLE_LOG, "execution_id": execution_id, "timestamp": iso(ago(hours=started_hours_ago))})
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "execution_id": execution_id, "total_duration": duration,
                              "node_count": 4, "failed_nodes": failed_nodes})


def test_live_execution_status_of_a_running_execution(api):
    past_run(api, "exec-100", 60000, started_hours_ago=3)
    past_run(api, "exec-101", 80000, started_hours_ago=2)
    past_run(api, "exec-102", 500000, failed_nodes=2, started_hours_ago=1)  # failed: not part of the estimate
    start = ago(seconds=45)
    post(api, "log", {**EXAMPLE_LOG, "message": "Workflow execution started", "node_name": "Start Node", "step_number": 1,
                      "timestamp": iso(start)})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "warn", "message": "slow API", "node_name": "API", "step_number": 2,
                      "timestamp": iso(start + timedelta(seconds=10))})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "warn", "message": "retrying", "node_name": "API", "step_number": 2,
                      "timestamp": iso(start + timedelta(seconds=20))})
    post(api, "log", {**EXAMPLE_LOG, "log_level": "debug", "message": "noise", "timestamp": iso(start + timedelta(seconds=25))})
    post(api, "log", {**EXAMPLE_LOG, "message": "Processing", "node_name": "Data Processing", "step_number": 3,
                      "timestamp": iso(start + timedelta(seconds=30))})

    data = get(api, "type=live-status&workflow_id=wf-001")
    assert LIVE_STATUS_FIELDS <= set(data)
    assert data["workflow_id"] == "wf-001" and data["execution_id"] == "exec-123"
    assert data["current_state"] == "running"
    assert data["current_step"] == "Data Processing"
    assert data["progress_percentage"] == 75  # step 3 of the 4 nodes the workflow's runs have
    assert 45000 <= data["elapsed_time"] < 60000
    # The mean of the successful runs (60 s and 80 s) minus what has elapsed.
    assert data["estimated_remaining_time"] == 70000 - data["elapsed_time"]
    assert data["error_count"] == 0
    assert data["warning_count"] == 2
    assert [log["message"] for log in data["recent_logs"]] == [
        "Processing", "noise", "retrying", "slow API", "Workflow execution started"]


def test_live_status_after_a_performance_record_with_a_failed_node(api):
    post(api, "log", EXAMPLE_LOG)
    post(api, "log", {**EXAMPLE_LOG, "log_level": "warn", "message": "careful"})
    post(api, "performance", EXAMPLE_PERFORMANCE)  # failed_nodes: 1
    data = get(api, "type=live-status&workflow_id=wf-001")
    assert data["current_state"] == "error"
    assert data["progress_percentage"] == 100 and data["estimated_remaining_time"] == 0
    assert data["elapsed_time"] == 45000  # the run's total_duration, not the time since it started
    assert data["warning_count"] == 1 and data["error_count"] == 0


def test_live_status_counts_errors_and_has_no_estimate_without_history(api):
    post(api, "log", EXAMPLE_LOG)
    post(api, "error", EXAMPLE_ERROR)
    post(api, "error", {**EXAMPLE_ERROR, "severity": "low"})
    data = get(api, "type=live-status&workflow_id=wf-001")
    assert data["current_state"] == "error" and data["error_count"] == 2
    assert data["progress_percentage"] == 100 and data["estimated_remaining_time"] == 0

    post(api, "log", {**EXAMPLE_LOG, "workflow_id": "wf-new", "step_number": None})
    fresh = get(api, "type=live-status&workflow_id=wf-new")
    assert fresh["current_state"] == "running"
    assert fresh["estimated_remaining_time"] is None and fresh["progress_percentage"] is None


def test_live_status_of_a_workflow_that_never_ran_is_null(api, team):
    team.workflows.create(external_id="wf-idle")
    assert get(api, "type=live-status&workflow_id=wf-idle") is None


# --- dashboard ---------------------------------------------------------------------------------------------
def test_dashboard_summary_values(api):
    for n, duration in enumerate((10000, 20000, 30000)):
        post(api, "log", {**EXAMPLE_LOG, "execution_id": f"ok-{n}"})
        post(api, "performance", {**EXAMPLE_PERFORMANCE, "execution_id": f"ok-{n}", "failed_nodes": 0,
                                  "total_duration": duration})
    post(api, "log", {**EXAMPLE_LOG, "execution_id": "bad"})
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "execution_id": "bad", "total_duration": 40000})  # failed_nodes 1
    post(api, "log", {**EXAMPLE_LOG, "execution_id": "running"})
    post(api, "error", {**EXAMPLE_ERROR, "execution_id": "bad", "severity": "critical"})
    post(api, "error", {**EXAMPLE_ERROR, "execution_id": "bad"})
    acknowledged = post(api, "alert", EXAMPLE_ALERT)
    ok(api.patch(f"{URL}?type=alert&id={acknowledged['id']}", EXAMPLE_ALERT_ACKNOWLEDGEMENT, format="json"))
    resolved = post(api, "alert", {**EXAMPLE_ALERT, "severity": "info", "title": "Slow node"})
    ok(api.patch(f"{URL}?type=alert&id={resolved['id']}", {"resolved": True}, format="json"))
    # Another workflow's data is not counted when the dashboard names wf-001.
    post(api, "log", {**EXAMPLE_LOG, "workflow_id": "wf-002", "execution_id": "x"})
    post(api, "alert", {**EXAMPLE_ALERT, "workflow_id": "wf-002", "severity": "critical"})

    data = get(api, "type=dashboard&workflow_id=wf-001")
    assert DASHBOARD_FIELDS <= set(data)
    assert data["total_executions"] == 5
    assert data["successful_executions"] == 3 and data["failed_executions"] == 1
    assert data["success_rate"] == 60.0
    assert data["total_errors"] == 2 and data["critical_errors"] == 1
    assert data["total_alerts"] == 2 and data["unresolved_alerts"] == 1  # acknowledged is not resolved
    assert data["average_execution_time"] == 25000  # (10 + 20 + 30 + 40 s) / 4; the running one has none yet
    assert data["system_health"] == "critical"  # an unresolved critical error
    assert set(data["recent_activity"]) == {"logs", "errors", "alerts"}
    assert len(data["recent_activity"]["logs"]) == 5
    assert {e["severity"] for e in data["recent_activity"]["errors"]} == {"critical", "high"}
    assert {a["id"] for a in data["recent_activity"]["alerts"]} == {acknowledged["id"], resolved["id"]}

    everything = get(api, "type=dashboard")
    assert everything["total_executions"] == 6 and everything["total_alerts"] == 3
    assert everything["success_rate"] == 50.0


def test_dashboard_success_rate_is_rounded_to_two_decimals(api):
    # The reference's example: 142 of 150 successful is 94.67.
    records = {"logs": [], "performance": []}
    for n in range(150):
        records["logs"].append({**EXAMPLE_LOG, "execution_id": f"e{n}"})
        records["performance"].append({**EXAMPLE_PERFORMANCE, "execution_id": f"e{n}", "failed_nodes": int(n < 8)})
    post(api, "batch", records)
    data = get(api, "type=dashboard&workflow_id=wf-001")
    assert (data["total_executions"], data["successful_executions"], data["failed_executions"]) == (150, 142, 8)
    assert data["success_rate"] == 94.67
    assert data["average_execution_time"] == 45000


@pytest.mark.parametrize("extra, health", [
    ([], "healthy"),
    ([("alert", {**EXAMPLE_ALERT, "severity": "info"})], "healthy"),
    ([("alert", EXAMPLE_ALERT)], "degraded"),
    ([("error", EXAMPLE_ERROR)], "degraded"),
    ([("alert", {**EXAMPLE_ALERT, "severity": "critical"})], "critical"),
])
def test_dashboard_system_health(api, extra, health):
    post(api, "log", EXAMPLE_LOG)
    for kind, body in extra:
        post(api, kind, body)
    assert get(api, "type=dashboard&workflow_id=wf-001")["system_health"] == health


def test_dashboard_of_nothing(api):
    data = get(api, "type=dashboard")
    assert data["total_executions"] == 0 and data["success_rate"] is None
    assert data["average_execution_time"] is None and data["system_health"] == "healthy"


# --- PATCH ---------------------------------------------------------------------------------------------------
def test_update_error_resolution(api):
    error = post(api, "error", EXAMPLE_ERROR)
    data = ok(api.patch(f"{URL}?type=error&id={error['id']}", EXAMPLE_ERROR_RESOLUTION, format="json"))
    assert data["id"] == error["id"] and data["resolved"] is True and data["resolved_at"]
    assert data["resolution_notes"] == "Fixed by updating API timeout configuration"
    # A token acts for a system; the person it names is kept, labelled with the token.
    assert data["resolved_by"] == "admin-user (via token:ci)"

    row = WorkflowError.objects.get(pk=error["id"])
    assert row.resolved and row.resolved_at is not None and row.resolution_notes == data["resolution_notes"]
    assert get(api, "type=errors&workflow_id=wf-001&severity=high,critical&resolved=false") == []
    assert [d["id"] for d in get(api, "type=errors&workflow_id=wf-001&resolved=true")] == [error["id"]]


def test_update_alert_acknowledgement(api):
    alert = post(api, "alert", EXAMPLE_ALERT)
    data = ok(api.patch(f"{URL}?type=alert&id={alert['id']}", EXAMPLE_ALERT_ACKNOWLEDGEMENT, format="json"))
    assert data["acknowledged"] is True and data["acknowledged_at"]
    assert data["acknowledged_by"] == "team-lead (via token:ci)"
    assert data["resolved"] is False and data["resolved_at"] is None

    row = Alert.objects.get(pk=alert["id"])
    assert row.acknowledged and not row.resolved
    assert get(api, "type=alerts&workflow_id=wf-001&acknowledged=false") == []
    assert get(api, "type=dashboard&workflow_id=wf-001")["unresolved_alerts"] == 1


def test_a_person_is_recorded_as_themselves(api, team, make_user, client_for):
    error = post(api, "error", EXAMPLE_ERROR)
    lead = client_for(make_user("lead", team, "member"))
    assert ok(lead.patch(f"{URL}?type=error&id={error['id']}", EXAMPLE_ERROR_RESOLUTION, format="json"))["resolved_by"] == "lead"


# --- DELETE ----------------------------------------------------------------------------------------------------
def old_and_new_data(api):
    old = iso(ago(days=100))
    post(api, "log", {**EXAMPLE_LOG, "execution_id": "exec-old", "timestamp": old})
    post(api, "error", {**EXAMPLE_ERROR, "execution_id": "exec-old", "timestamp": old})
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "execution_id": "exec-old", "timestamp": old})
    post(api, "alert", {**EXAMPLE_ALERT, "title": "Old alert", "timestamp": old})  # not a repeat of the new one
    new = post(api, "log", EXAMPLE_LOG)
    post(api, "error", EXAMPLE_ERROR)
    post(api, "performance", EXAMPLE_PERFORMANCE)
    post(api, "alert", EXAMPLE_ALERT)
    return new


def test_data_cleanup_with_retention_days(api, make_user, client_for):
    new_log = old_and_new_data(api)
    root = client_for(make_user("root", superuser=True))

    dry = ok(root.delete(f"{URL}?retention_days=90&dry_run=true"))
    assert dry["dry_run"] is True and dry["deleted"]["logs"] == 1
    assert ExecutionLog.objects.count() == 2

    data = ok(root.delete(f"{URL}?retention_days=90"))
    assert data["retention_days"] == 90 and data["dry_run"] is False
    assert data["deleted"] == {"logs": 1, "errors": 1, "performance": 1, "alerts": 1, "executions": 1}
    assert (ExecutionLog.objects.count(), WorkflowError.objects.count(), PerformanceMetric.objects.count(),
            Alert.objects.count()) == (1, 1, 1, 1)
    assert list(Execution.objects.values_list("external_id", flat=True)) == ["exec-123"]
    assert [d["id"] for d in get(api, "type=logs&workflow_id=wf-001")] == [new_log["id"]]
    run = RetentionRun.objects.filter(dry_run=False).get()
    assert run.trigger == "api" and run.actor == "root" and run.deleted == data["deleted"]


def test_data_cleanup_is_for_super_admins_only(api, team, make_user, client_for):
    old_and_new_data(api)
    for client in (api, client_for(make_user("boss", team, "admin"))):
        r = client.delete(f"{URL}?retention_days=90")
        assert r.status_code == 403 and r.json()["success"] is False
    assert ExecutionLog.objects.count() == 2


# --- the TypeScript client's usage examples (workflowMonitor.*), as the HTTP calls they make ------------------------------------------------------
def test_usage_examples(api):
    # workflowMonitor.logExecution("wf-001", "exec-123", {...}) twice
    started = post(api, "log", {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info",
                                "message": "Workflow execution started", "node_name": "Start Node",
                                "metadata": {"trigger": "webhook"}})
    assert started["metadata"] == {"trigger": "webhook"} and started["step_number"] is None
    step = post(api, "log", {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info",
                             "message": "Processing 1000 records", "node_name": "Data Processor", "step_number": 2,
                             "duration": 2500, "metadata": {"recordCount": 1000}})
    assert step["duration"] == 2500
    status = get(api, "type=live-status&workflow_id=wf-001")
    assert (status["current_state"], status["current_step"], status["step_number"]) == ("running", "Data Processor", 2)
    assert [log["id"] for log in status["recent_logs"]] == [step["id"], started["id"]]

    # workflowMonitor.logError(...) then resolveError(errorId, {notes, resolvedBy})
    error = post(api, "error", {"workflow_id": "wf-001", "execution_id": "exec-123", "error_type": "network",
                                "error_message": "API connection failed", "error_code": "CONN_001",
                                "node_name": "API Node", "severity": "high",
                                "error_stack": "Error: API connection failed\n    at fetch (api.ts:10:5)",
                                "metadata": {"endpoint": "/api/data", "retryCount": 3}})
    assert error["metadata"] == {"endpoint": "/api/data", "retryCount": 3}
    assert execution().state == "error"
    resolved = ok(api.patch(f"{URL}?type=error&id={error['id']}",
                            {"resolved": True, "resolution_notes": "Fixed by updating API endpoint configuration",
                             "resolved_by": "admin-user"}, format="json"))
    assert resolved["resolved"] is True and resolved["resolution_notes"] == "Fixed by updating API endpoint configuration"

    # workflowMonitor.recordPerformance("wf-001", "exec-123", {...})
    perf = post(api, "performance", {"workflow_id": "wf-001", "execution_id": "exec-123", "total_duration": 45000,
                                     "node_count": 6, "successful_nodes": 5, "failed_nodes": 1,
                                     "memory_peak": 128 * 1024 * 1024, "memory_average": 64 * 1024 * 1024,
                                     "cpu_peak": 85.5, "cpu_average": 45.2, "network_requests": 15,
                                     "network_data_transferred": 2 * 1024 * 1024, "throughput": 2.5,
                                     "bottleneck_nodes": ["API Node"]})
    assert perf["memory_peak"] == 134217728 and perf["network_data_transferred"] == 2097152
    assert execution().duration_ms == 45000

    # workflowMonitor.createAlert("wf-001", {...}) then acknowledgeAlert(alertId, "team-lead")
    alert = post(api, "alert", {"workflow_id": "wf-001", "alert_type": "performance", "severity": "warning",
                                "title": "High Memory Usage", "description": "Workflow consuming excessive memory resources",
                                "metadata": {"memoryUsed": 256 * 1024 * 1024, "threshold": 128 * 1024 * 1024}})
    acked = ok(api.patch(f"{URL}?type=alert&id={alert['id']}", {"acknowledged": True, "acknowledged_by": "team-lead"},
                         format="json"))
    assert acked["acknowledged"] is True and acked["acknowledged_by"].startswith("team-lead")

    # workflowMonitor.getLiveStatus("wf-001")
    status = get(api, "type=live-status&workflow_id=wf-001")
    assert status["workflow_id"] == "wf-001" and status["current_state"] == "error"
    assert status["progress_percentage"] == 100 and status["error_count"] == 1 and status["warning_count"] == 0

    # workflowMonitor.getDashboardSummary()
    summary = get(api, "type=dashboard")
    assert summary["success_rate"] == 0.0  # its one execution failed
    assert summary["unresolved_alerts"] == 1  # acknowledged, not resolved
    assert summary["average_execution_time"] == 45000
    assert summary["total_errors"] == 1 and summary["critical_errors"] == 0
    assert summary["system_health"] == "degraded"  # the open warning alert; the high error is resolved


# --- execution state rules (monitoring/ingest.py) ---------------------------------------------------------------
@pytest.mark.parametrize("before", ["new", "queued", "waiting"])
def test_a_log_moves_a_not_yet_running_execution_to_running(api, before):
    post(api, "log", {**EXAMPLE_LOG, "node_name": "", "step_number": None})
    Execution.objects.update(state=before)
    post(api, "log", EXAMPLE_LOG)
    e = execution()
    assert (e.state, e.current_step, e.step_number) == ("running", "Data Processor", 3)


def test_the_first_record_registers_workflow_and_running_execution(api, team):
    started = ago(minutes=3)
    post(api, "log", {**EXAMPLE_LOG, "workflow_name": "Orders sync", "timestamp": iso(started)})
    workflow = Workflow.objects.get(external_id="wf-001")
    assert workflow.team == team and workflow.name == "Orders sync"
    e = execution()
    assert e.state == "running" and abs((e.started_at - started).total_seconds()) < 0.01


@pytest.mark.parametrize("final", ["success", "error", "canceled", "crashed"])
def test_a_log_does_not_reopen_a_finished_execution(api, final):
    post(api, "log", EXAMPLE_LOG)
    Execution.objects.update(state=final)
    post(api, "log", {**EXAMPLE_LOG, "message": "late log"})
    assert execution().state == final


def test_an_error_fails_a_running_execution_at_the_errors_time(api):
    start = ago(minutes=10)
    post(api, "log", {**EXAMPLE_LOG, "timestamp": iso(start)})
    post(api, "error", {**EXAMPLE_ERROR, "timestamp": iso(start + timedelta(seconds=7))})
    e = execution()
    assert e.state == "error"
    assert abs((e.stopped_at - (start + timedelta(seconds=7))).total_seconds()) < 0.01
    assert abs(e.duration_ms - 7000) <= 1


def test_an_error_on_a_finished_execution_changes_nothing(api):
    post(api, "log", EXAMPLE_LOG)
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "failed_nodes": 0})
    before = execution()
    post(api, "error", EXAMPLE_ERROR)
    after = execution()
    assert after.state == "success" and (after.stopped_at, after.duration_ms) == (before.stopped_at, before.duration_ms)


@pytest.mark.parametrize("failed_nodes, state", [(0, "success"), (1, "error"), (3, "error")])
def test_a_performance_record_finishes_a_running_execution(api, failed_nodes, state):
    start = ago(minutes=5)
    post(api, "log", {**EXAMPLE_LOG, "timestamp": iso(start)})
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "failed_nodes": failed_nodes})
    e = execution()
    assert e.state == state and e.duration_ms == 45000 and e.total_steps == 6
    assert abs((e.stopped_at - (start + timedelta(milliseconds=45000))).total_seconds()) < 0.01


def test_a_performance_record_alone_creates_a_finished_execution(api):
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "failed_nodes": 0})
    e = execution()
    assert e.state == "success" and e.duration_ms == 45000


def test_a_performance_record_after_an_error_keeps_error_and_sets_duration(api):
    post(api, "log", EXAMPLE_LOG)
    post(api, "error", EXAMPLE_ERROR)
    post(api, "performance", {**EXAMPLE_PERFORMANCE, "failed_nodes": 0, "total_duration": 12345})
    e = execution()
    assert e.state == "error" and e.duration_ms == 12345


def test_a_batch_applies_records_in_time_order(api):
    t = ago(minutes=1)
    post(api, "batch", {"logs": [
        {**EXAMPLE_LOG, "node_name": "Last", "step_number": 5, "timestamp": iso(t + timedelta(seconds=2))},
        {**EXAMPLE_LOG, "node_name": "First", "step_number": 1, "timestamp": iso(t)},
        {**EXAMPLE_LOG, "node_name": "Middle", "step_number": 3, "timestamp": iso(t + timedelta(seconds=1))},
    ]})
    e = execution()
    assert (e.current_step, e.step_number) == ("Last", 5)
    assert abs((e.started_at - t).total_seconds()) < 0.01


def test_in_a_batch_the_earlier_of_error_and_performance_decides(api):
    t = ago(minutes=1)
    post(api, "batch", {
        "logs": [{**EXAMPLE_LOG, "execution_id": "a", "timestamp": iso(t)},
                 {**EXAMPLE_LOG, "execution_id": "b", "timestamp": iso(t)}],
        # a: the performance record (no failed node) comes first, so a later error does not fail it.
        "performance": [{**EXAMPLE_PERFORMANCE, "execution_id": "a", "failed_nodes": 0, "timestamp": iso(t + timedelta(seconds=1))},
                        {**EXAMPLE_PERFORMANCE, "execution_id": "b", "failed_nodes": 0, "timestamp": iso(t + timedelta(seconds=3))}],
        "errors": [{**EXAMPLE_ERROR, "execution_id": "a", "timestamp": iso(t + timedelta(seconds=2))},
                   {**EXAMPLE_ERROR, "execution_id": "b", "timestamp": iso(t + timedelta(seconds=2))}],
    })
    assert execution("a").state == "success"
    assert execution("b").state == "error" and execution("b").duration_ms == 45000


def test_an_alert_for_an_execution_does_not_change_its_state(api):
    post(api, "log", EXAMPLE_LOG)
    alert = post(api, "alert", {**EXAMPLE_ALERT, "execution_id": "exec-123", "severity": "critical"})
    assert alert["execution_id"] == "exec-123"
    assert execution().state == "running"


# --- the example requests of docs/monitoring-endpoint.md, answered as the document shows ----------------------
DOC = Path(__file__).resolve().parent.parent / "docs" / "monitoring-endpoint.md"
HTTP_BLOCK = re.compile(r"```http\n(.*?)```", re.DOTALL)
REQUEST_LINE = re.compile(r"^(GET|POST|PATCH|DELETE|PUT) (/\S*)$")
# Values that differ on every run; the document shows one of each kind, the answer must hold the same kind.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_DEPENDENT = {"elapsed_time", "group_id"}  # milliseconds since the execution started; an error group's id


@dataclass
class Example:
    method: str
    path: str
    headers: dict
    body: str
    answer: tuple | None = None  # (status, headers, body text) as documented

    def __str__(self):
        return f"{self.method} {self.path}"


def split_http(block):
    head, _, body = block.partition("\n\n")
    first, *header_lines = head.strip().splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return first, headers, body.strip()


def documented_examples(text):
    """Every request of the document with the answer shown right after it (if any), in order."""
    examples = []
    for block in HTTP_BLOCK.findall(text):
        first, headers, body = split_http(block)
        if first.startswith("HTTP/1.1 "):
            assert examples and examples[-1].answer is None, f"an answer without its request: {first}"
            examples[-1].answer = (int(first.split()[1]), headers, body)
            continue
        match = REQUEST_LINE.match(first)
        assert match, f"not a request line: {first}"
        examples.append(Example(match[1], match[2], headers, body))
    return examples


def same_shape(documented, actual, where="body"):
    """The answer has exactly the documented fields, with the documented values, except where a
    value differs by nature (ids, times, request ids, elapsed time): there the same kind of value."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        assert set(actual) == set(documented), f"{where}: fields {sorted(actual)} != documented {sorted(documented)}"
        for key in documented:
            if key in RUN_DEPENDENT:
                assert isinstance(actual[key], int), f"{where}.{key}"
            else:
                same_shape(documented[key], actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list) and len(actual) == len(documented), f"{where}: {actual!r} != {documented!r}"
        for i, (d, a) in enumerate(zip(documented, actual)):
            same_shape(d, a, f"{where}[{i}]")
    elif isinstance(documented, str) and any(p.match(documented) for p in (UUID, TIMESTAMP, REQUEST_ID)):
        pattern = next(p for p in (UUID, TIMESTAMP, REQUEST_ID) if p.match(documented))
        assert isinstance(actual, str) and pattern.match(actual), f"{where}: {actual!r} is not like {documented!r}"
    else:
        assert actual == documented, f"{where}: {actual!r} != documented {documented!r}"


class DocumentedClients:
    """Sends an example as written: a bearer token becomes the test's token of team acme, a session
    cookie a signed-in super admin; {error_id} / {alert_id} the id of the last error / alert posted."""

    def __init__(self, token, superuser_client, client_for):
        self.token, self.superuser_client, self.client_for = token, superuser_client, client_for
        self.ids = {}

    def send(self, example):
        headers = dict(example.headers)
        if "Cookie" in headers:
            client = self.superuser_client
        elif "Authorization" in headers:
            assert headers["Authorization"] == "Bearer ft_…", headers["Authorization"]
            client = self.client_for(self.token)
        else:
            client = self.client_for(None)
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()
                 if name in ("Idempotency-Key",)}
        path = example.path.format(**self.ids)
        response = client.generic(example.method, path, example.body.encode(),
                                  content_type=headers.get("Content-Type", "application/json"), **extra)
        self._remember_ids(path, response)
        return response

    def _remember_ids(self, path, response):
        if response.status_code == 201:
            data = response.json()["data"]
            for kind in ("error", "alert"):
                if f"type={kind}&" in path + "&":
                    self.ids[f"{kind}_id"] = data["id"]


def test_the_documented_examples_are_answered_as_documented(team, make_user, client_for):
    """docs/monitoring-endpoint.md: each example request, sent in order on a fresh database as the
    token "billing-service" of team acme, gets the status, headers and body the document shows."""
    examples = documented_examples(DOC.read_text())
    assert len(examples) >= 20 and all(e.answer for e in examples), [str(e) for e in examples if not e.answer]
    billing = ServiceToken.issue(team, "billing-service")[1]
    clients = DocumentedClients(billing, client_for(make_user("admin", superuser=True)), client_for)
    for example in examples:
        response = clients.send(example)
        status, headers, body = example.answer
        assert response.status_code == status, (str(example), response.status_code, response.content[:500])
        for name, value in headers.items():
            if name != "Content-Type":
                assert response.get(name) == value, (str(example), name, response.get(name))
        assert response["Content-Type"] == headers.get("Content-Type", "application/json")
        same_shape(json.loads(body), response.json(), str(example))
