"""Seed 002's API reference and usage examples, sent exactly as written, against the real database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert, Execution, ExecutionLog, PerformanceMetric, WorkflowError

URL = "/api/workflows/monitoring"

LOG = {
    "workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info", "message": "Processing step completed",
    "node_name": "Data Processor", "step_number": 3, "duration": 1500,
    "metadata": {"records_processed": 1000, "memory_used": 64000000},
}
ERROR = {
    "workflow_id": "wf-001", "execution_id": "exec-123", "error_type": "network",
    "error_message": "Connection timeout to external API", "error_code": "TIMEOUT_001", "node_name": "API Connector",
    "severity": "high", "error_stack": "Error: Connection timeout...", "metadata": {"timeout_duration": 30000, "retry_count": 3},
}
PERFORMANCE = {
    "workflow_id": "wf-001", "execution_id": "exec-123", "total_duration": 45000, "node_count": 6, "successful_nodes": 5,
    "failed_nodes": 1, "memory_peak": 134217728, "memory_average": 67108864, "cpu_peak": 85.5, "cpu_average": 45.2,
    "network_requests": 15, "network_data_transferred": 2048000, "throughput": 2.5,
    "bottleneck_nodes": ["API Node", "Database Node"],
}
ALERT = {
    "workflow_id": "wf-001", "alert_type": "performance", "severity": "warning", "title": "High Execution Time",
    "description": "Workflow execution time exceeded recommended threshold",
    "metadata": {"actual_duration": 45000, "threshold": 30000, "recommendation": "Consider optimizing API calls"},
}


def ok(response, status=200):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def post(api, kind, body):
    return ok(api.post(f"{URL}?type={kind}", body, format="json"), 201)


def test_create_log_entry(api):
    data = post(api, "log", LOG)
    assert {k: data[k] for k in LOG} == LOG
    row = ExecutionLog.objects.get(pk=data["id"])
    assert row.message == "Processing step completed" and row.workflow.external_id == "wf-001"


def test_create_error_entry(api):
    data = post(api, "error", ERROR)
    assert {k: data[k] for k in ERROR} == ERROR
    assert data["resolved"] is False
    assert WorkflowError.objects.filter(pk=data["id"], severity="high").exists()


def test_create_performance_metrics(api):
    data = post(api, "performance", PERFORMANCE)
    assert {k: data[k] for k in PERFORMANCE} == PERFORMANCE
    assert PerformanceMetric.objects.get(pk=data["id"]).bottleneck_nodes == ["API Node", "Database Node"]


def test_create_alert(api):
    data = post(api, "alert", ALERT)
    assert {k: data[k] for k in ALERT} == ALERT
    assert data["acknowledged"] is False and data["execution_id"] is None
    assert Alert.objects.filter(pk=data["id"]).exists()


def test_batch_operations(api):
    body = {"logs": [LOG, {**LOG, "message": "second"}], "errors": [ERROR], "performance": [PERFORMANCE], "alerts": [ALERT]}
    data = post(api, "batch", body)
    assert data["created"] == {"logs": 2, "errors": 1, "performance": 1, "alerts": 1}
    assert ExecutionLog.objects.filter(pk__in=data["ids"]["logs"]).count() == 2
    assert Alert.objects.filter(pk__in=data["ids"]["alerts"]).count() == 1


def test_retrieve_logs(api):
    post(api, "log", LOG)
    post(api, "log", {**LOG, "log_level": "warn", "message": "slow"})
    post(api, "log", {**LOG, "log_level": "debug", "message": "noise"})
    post(api, "log", {**LOG, "workflow_id": "wf-002", "message": "other workflow"})
    data = ok(api.get(f"{URL}?type=logs&workflow_id=wf-001&log_levels=info,warn&limit=50"))
    assert [d["message"] for d in data] == ["slow", "Processing step completed"]


def test_retrieve_logs_pagination_and_time_range(api):
    now = timezone.now()
    for i in range(5):
        post(api, "log", {**LOG, "message": f"m{i}", "timestamp": (now - timedelta(minutes=10 - i)).isoformat()})
    page = api.get(f"{URL}?type=logs&workflow_id=wf-001&limit=2&offset=1").json()
    assert [d["message"] for d in page["data"]] == ["m3", "m2"]
    assert page["pagination"] == {"limit": 2, "offset": 1, "has_more": True}
    start = (now - timedelta(minutes=8, seconds=30)).isoformat().replace("+00:00", "Z")
    end = (now - timedelta(minutes=6, seconds=30)).isoformat().replace("+00:00", "Z")
    data = ok(api.get(f"{URL}?type=logs&execution_id=exec-123&start_time={start}&end_time={end}"))
    assert [d["message"] for d in data] == ["m3", "m2"]


def test_retrieve_errors(api):
    post(api, "error", ERROR)
    post(api, "error", {**ERROR, "severity": "low", "error_message": "minor"})
    critical = post(api, "error", {**ERROR, "severity": "critical", "error_message": "fatal"})
    api.patch(f"{URL}?type=error&id={critical['id']}", {"resolved": True}, format="json")
    data = ok(api.get(f"{URL}?type=errors&workflow_id=wf-001&severity=high,critical&resolved=false"))
    assert [d["error_message"] for d in data] == ["Connection timeout to external API"]


def test_get_performance_metrics(api):
    post(api, "performance", PERFORMANCE)
    since = (timezone.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    data = ok(api.get(f"{URL}?type=performance&workflow_id=wf-001&start_time={since}"))
    assert len(data) == 1 and data[0]["total_duration"] == 45000
    future = (timezone.now() + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert ok(api.get(f"{URL}?type=performance&workflow_id=wf-001&start_time={future}")) == []


def test_get_alerts(api):
    first = post(api, "alert", ALERT)
    post(api, "alert", {**ALERT, "title": "Still open"})
    api.patch(f"{URL}?type=alert&id={first['id']}", {"acknowledged": True}, format="json")
    data = ok(api.get(f"{URL}?type=alerts&workflow_id=wf-001&acknowledged=false"))
    assert [d["title"] for d in data] == ["Still open"]


def test_live_execution_status(api):
    # Two earlier successful runs of 60 s give the estimate.
    start = timezone.now() - timedelta(hours=1)
    for n in (1, 2):
        post(api, "log", {**LOG, "execution_id": f"past-{n}", "timestamp": start.isoformat()})
        post(api, "performance", {**PERFORMANCE, "execution_id": f"past-{n}", "total_duration": 60000, "failed_nodes": 0})
    running_since = timezone.now() - timedelta(seconds=45)
    post(api, "log", {**LOG, "log_level": "warn", "message": "slow", "step_number": 1, "timestamp": running_since.isoformat()})
    post(api, "log", {**LOG, "log_level": "warn", "message": "slower", "step_number": 2})
    post(api, "log", {**LOG, "node_name": "Data Processing", "step_number": 3})
    data = ok(api.get(f"{URL}?type=live-status&workflow_id=wf-001"))
    assert data["workflow_id"] == "wf-001" and data["execution_id"] == "exec-123"
    assert data["current_state"] == "running"
    assert data["current_step"] == "Data Processing"
    assert data["progress_percentage"] == 50  # step 3 of the 6 nodes the last performance record counted
    assert 44000 <= data["elapsed_time"] <= 60000
    assert data["estimated_remaining_time"] == 60000 - data["elapsed_time"]
    assert data["error_count"] == 0 and data["warning_count"] == 2
    assert [log["message"] for log in data["recent_logs"]] == ["Processing step completed", "slower", "slow"]


def test_live_status_after_failure_and_for_unknown_or_unrun(api, team):
    post(api, "log", LOG)
    post(api, "error", ERROR)
    data = ok(api.get(f"{URL}?type=live-status&workflow_id=wf-001"))
    assert data["current_state"] == "error" and data["error_count"] == 1 and data["progress_percentage"] == 100
    r = api.get(f"{URL}?type=live-status&workflow_id=nope")
    assert r.status_code == 404 and r.json()["success"] is False
    team.workflows.create(external_id="never-ran")
    assert ok(api.get(f"{URL}?type=live-status&workflow_id=never-ran")) is None


def test_dashboard_summary(api):
    for n in range(6):
        post(api, "log", {**LOG, "execution_id": f"e{n}"})
        post(api, "performance", {**PERFORMANCE, "execution_id": f"e{n}", "failed_nodes": 0, "total_duration": 1000 * (n + 1)})
    post(api, "error", {**ERROR, "execution_id": "e5", "severity": "critical"})  # e5 already finished: stays success
    post(api, "log", {**LOG, "execution_id": "e6"})
    post(api, "error", {**ERROR, "execution_id": "e6"})  # e6 fails
    post(api, "alert", ALERT)
    data = ok(api.get(f"{URL}?type=dashboard&workflow_id=wf-001"))
    assert data["total_executions"] == 7
    assert data["successful_executions"] == 6 and data["failed_executions"] == 1
    assert data["success_rate"] == round(6 * 100 / 7, 2)
    assert data["total_errors"] == 2 and data["critical_errors"] == 1
    assert data["total_alerts"] == 1 and data["unresolved_alerts"] == 1
    assert data["average_execution_time"] is not None
    assert data["system_health"] == "critical"  # an unresolved critical error
    assert len(data["recent_activity"]["logs"]) == 7
    assert len(data["recent_activity"]["errors"]) == 2 and len(data["recent_activity"]["alerts"]) == 1


@pytest.mark.parametrize("setup, health", [
    ([], "healthy"),
    ([("alert", {**ALERT, "severity": "warning"})], "degraded"),
    ([("alert", {**ALERT, "severity": "critical"})], "critical"),
    ([("error", {**ERROR, "severity": "high"})], "degraded"),
])
def test_system_health_rules(api, setup, health):
    post(api, "log", LOG)
    for kind, body in setup:
        post(api, kind, body)
    assert ok(api.get(f"{URL}?type=dashboard"))["system_health"] == health


def test_update_error_resolution(api):
    error = post(api, "error", ERROR)
    body = {"resolved": True, "resolution_notes": "Fixed by updating API timeout configuration", "resolved_by": "admin-user"}
    data = ok(api.patch(f"{URL}?type=error&id={error['id']}", body, format="json"))
    assert data["resolved"] is True and data["resolved_at"]
    assert data["resolution_notes"] == body["resolution_notes"]
    assert data["resolved_by"] == "admin-user (via token:ci)"


def test_update_alert_acknowledgment(api):
    alert = post(api, "alert", ALERT)
    data = ok(api.patch(f"{URL}?type=alert&id={alert['id']}",
                        {"acknowledged": True, "acknowledged_by": "team-lead", "resolved": False}, format="json"))
    assert data["acknowledged"] is True and data["acknowledged_at"]
    assert data["acknowledged_by"] == "team-lead (via token:ci)"
    assert data["resolved"] is False


def test_user_is_recorded_as_themselves(team, make_user, client_for, api):
    error = post(api, "error", ERROR)
    member = client_for(make_user("lead", team, "member"))
    data = ok(member.patch(f"{URL}?type=error&id={error['id']}", {"resolved": True, "resolved_by": "someone-else"},
                           format="json"))
    assert data["resolved_by"] == "lead"


def test_data_cleanup(api, make_user, client_for):
    old = (timezone.now() - timedelta(days=100)).isoformat()
    post(api, "log", {**LOG, "timestamp": old})
    post(api, "log", {**LOG, "execution_id": "fresh"})
    admin = client_for(make_user("root", superuser=True))
    data = ok(admin.delete(f"{URL}?retention_days=90"))
    assert data["deleted"]["logs"] == 1 and data["retention_days"] == 90
    assert ExecutionLog.objects.count() == 1


def test_usage_examples(api):
    """Seed 002's TypeScript usage examples, as the HTTP calls they make."""
    post(api, "log", {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info",
                      "message": "Workflow execution started", "node_name": "Start Node", "metadata": {"trigger": "webhook"}})
    post(api, "log", {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info",
                      "message": "Processing 1000 records", "node_name": "Data Processor", "step_number": 2,
                      "duration": 2500, "metadata": {"recordCount": 1000}})
    error = post(api, "error", {"workflow_id": "wf-001", "execution_id": "exec-123", "error_type": "network",
                                "error_message": "API connection failed", "error_code": "CONN_001",
                                "node_name": "API Node", "severity": "high", "error_stack": "Error: ...",
                                "metadata": {"endpoint": "/api/data", "retryCount": 3}})
    ok(api.patch(f"{URL}?type=error&id={error['id']}", {"resolved": True, "resolution_notes":
                 "Fixed by updating API endpoint configuration", "resolved_by": "admin-user"}, format="json"))
    post(api, "performance", {**PERFORMANCE, "memory_peak": 128 * 1024 * 1024, "bottleneck_nodes": ["API Node"]})
    alert = post(api, "alert", {"workflow_id": "wf-001", "alert_type": "performance", "severity": "warning",
                                "title": "High Memory Usage", "description": "Workflow consuming excessive memory resources",
                                "metadata": {"memoryUsed": 256 * 1024 * 1024, "threshold": 128 * 1024 * 1024}})
    ok(api.patch(f"{URL}?type=alert&id={alert['id']}", {"acknowledged": True, "acknowledged_by": "team-lead"}, format="json"))
    status = ok(api.get(f"{URL}?type=live-status&workflow_id=wf-001"))
    assert status["current_state"] == "error" and status["error_count"] == 1
    summary = ok(api.get(f"{URL}?type=dashboard"))
    assert summary["unresolved_alerts"] == 1 and summary["average_execution_time"] == 45000
    assert Execution.objects.get(external_id="exec-123").duration_ms == 45000
