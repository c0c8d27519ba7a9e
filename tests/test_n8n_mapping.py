"""What a real n8n's executions become in Flowtower: the truth table of that n8n (statuses,
durations, failing nodes, error types, bottlenecks) reproduced from the mapping alone, every
record accepted by monitoring's own input schemas, and schedules read from trigger nodes."""

from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from monitoring.api.v1 import ExecutionIn
from monitoring.schemas import validate_records
from n8n_mirror import mapping
from n8n_mirror.error_types import infer_error_type
from n8n_mirror.readers.base import N8nExecution, N8nWorkflow
from n8n_mirror.readers.database import DatabaseReader
from n8n_mirror.schedule import cron_interval_minutes

from tests.n8n_truth import SQLITE, TRUTH


@pytest.fixture(scope="module")
def mirrored():
    reader = DatabaseReader(SQLITE)
    workflows = {w.id: w for w in reader.list_workflows()}
    return {e.id: mapping.map_execution_records(e, workflows[e.workflow_id])
            for e in reader.list_executions(limit=1000)}, workflows


def test_statuses_and_durations_are_what_n8n_shows(mirrored):
    records, _ = mirrored
    durations = defaultdict(list)
    for r in records.values():
        e = r["execution"]
        durations[(e["workflow_name"], e["state"], e["mode"])].append(e.get("duration_ms"))
    assert {k: len(v) for k, v in durations.items()} == {k: n for k, (n, _) in TRUTH.items()}
    for key, (_, average) in TRUTH.items():
        if average is None:
            assert durations[key] == [None]  # still waiting: no stop, no duration
        else:
            assert abs(sum(durations[key]) / len(durations[key]) - average) <= 1, key


def test_failing_nodes_and_error_types(mirrored):
    records, _ = mirrored
    errors = Counter()
    for r in records.values():
        for error in r["errors"]:
            errors[(error["workflow_name"], error["node_name"], error["error_type"], error["error_code"],
                    error["severity"])] += 1
    # An HTTP 500 and an Error thrown in a Code node say nothing about the cause: "unknown".
    assert errors == {
        ("Invoice fetch", "Get invoices", "unknown", "500", "high"): 3,
        ("Warehouse ping", "Ping warehouse", "network", "ECONNREFUSED", "high"): 2,
        ("CRM token check", "Call CRM", "permission", "401", "high"): 2,
        ("Customer import", "Validate customer", "unknown", "", "high"): 3,
    }
    crm = records["17"]["errors"][0]
    assert crm["error_message"] == "Authorization failed - please check your credentials"
    assert crm["metadata"] == {"n8n_error": "NodeApiError", "description": "invalid api token", "http_code": "401",
                               "level": "warning"}
    assert crm["error_stack"].startswith("NodeApiError: Authorization failed")
    code = records["24"]["errors"][0]
    assert code["error_message"] == "Invalid payload: missing customer_id [line 3]"
    assert code["metadata"]["line_number"] == 3


def test_logs_follow_the_execution_order(mirrored):
    records, _ = mirrored
    logs = records["27"]["logs"]
    assert [(l["step_number"], l["node_name"], l["duration"], l["log_level"]) for l in logs] == [
        (1, "Webhook", 0, "info"), (2, "Slow source", 1506, "info"), (3, "Pause", 2001, "info"),
        (4, "Summarise", 7, "info")]
    assert logs[1]["timestamp"] == datetime(2026, 11, 23, 4, 34, 4, 214000, tzinfo=timezone.utc)
    assert logs[1]["metadata"] == {"items": 1, "status": "success", "run_index": 0}
    assert logs[1]["node_id"] == "4408bd6a-609f-570c-a9f8-80e69e54533a"
    failed = records["17"]["logs"][1]
    assert failed["log_level"] == "error" and "Authorization failed" in failed["message"]


def test_performance_of_finished_executions(mirrored):
    records, _ = mirrored
    nightly = records["27"]["performance"][0]
    assert nightly["bottleneck_nodes"] == ["Pause", "Slow source"]
    assert (nightly["total_duration"], nightly["node_count"], nightly["successful_nodes"], nightly["failed_nodes"]) == (
        3797, 4, 4, 0)
    assert nightly["throughput"] == pytest.approx(4 / 3.797, abs=0.01)
    crm = records["17"]["performance"][0]
    assert (crm["node_count"], crm["successful_nodes"], crm["failed_nodes"], crm["bottleneck_nodes"]) == (2, 1, 1, [])
    assert records["29"]["performance"] == []  # waiting: not finished
    assert sum(len(r["performance"]) for r in records.values()) == 29


def test_a_waiting_execution_shows_where_it_waits(mirrored):
    records, _ = mirrored
    waiting = records["29"]["execution"]
    assert waiting["state"] == "waiting" and "stopped_at" not in waiting
    assert (waiting["current_step"], waiting["step_number"], waiting["total_steps"]) == ("Wait for approval", 2, 3)


def test_every_record_passes_monitorings_input_schemas(mirrored):
    records, _ = mirrored
    for r in records.values():
        # (An execution's custom data, metadata, is for ingestion only: see the custom data test.)
        execution = ExecutionIn(data=r["execution"])
        assert execution.is_valid(), execution.errors
        for kind, key in (("log", "logs"), ("error", "errors"), ("performance", "performance")):
            valid, errors = validate_records(kind, r[key])
            assert not errors and len(valid) == len(r[key]), (r["execution"]["execution_id"], kind, errors)


def test_custom_data_goes_into_the_executions_metadata(mirrored):
    records, workflows = mirrored
    assert not any("metadata" in r["execution"] for r in records.values())  # nothing saved in that n8n
    [execution] = DatabaseReader(SQLITE).list_executions(ids=["17"])
    plain = mapping.map_execution(execution, workflows[execution.workflow_id])
    execution.custom_data = {"order_id": "A-1002", "customer": "acme"}
    mapped = mapping.map_execution(execution, workflows[execution.workflow_id])
    assert mapped == {**plain, "metadata": {"n8n_custom_data": {"order_id": "A-1002", "customer": "acme"}}}


def test_workflows(mirrored):
    _, workflows = mirrored
    mapped = {w["name"]: w for w in map(mapping.map_workflow, workflows.values())}
    assert mapped["Nightly report"] == {"workflow_id": "FbRIb8zCoV42MZPU", "name": "Nightly report", "active": True,
                                        "tags": [], "node_count": 4, "schedule_minutes": None,
                                        "minutes_saved_per_run": None}
    assert mapped["Manual cleanup"]["active"] is False


def test_a_crashed_execution_without_details_still_records_an_error():
    crashed = N8nExecution(id="7", workflow_id="w", status="crashed", started_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                           stopped_at=datetime(2026, 1, 1, 0, 0, 2, tzinfo=timezone.utc), last_node_executed="Big query",
                           data_available=True)
    records = mapping.map_execution_records(crashed)
    assert records["execution"]["state"] == "crashed" and records["execution"]["duration_ms"] == 2000
    [error] = records["errors"]
    assert (error["error_type"], error["node_name"], error["severity"]) == ("system", "Big query", "high")


@pytest.mark.parametrize("error, expected", [
    ({"httpCode": "403", "message": "Forbidden - perhaps check your credentials?"}, "permission"),
    ({"httpCode": "ECONNABORTED", "message": "The connection was aborted, perhaps the server is offline",
      "messages": ["timeout of 3000ms exceeded"]}, "timeout"),
    ({"code": "ETIMEDOUT", "message": "connect ETIMEDOUT 10.0.0.1:443"}, "timeout"),
    ({"httpCode": "ENOTFOUND", "message": "The DNS server returned an error, perhaps the server is offline"}, "network"),
    ({"message": "getaddrinfo EAI_AGAIN api.example.com"}, "network"),
    ({"name": "ExpressionError", "message": "invalid syntax"}, "validation"),
    ({"name": "NodeOperationError", "message": "The parameter \"URL\" is required"}, "validation"),
    ({"name": "NodeApiError", "httpCode": "502", "message": "Bad gateway - the service failed to handle your request"},
     "unknown"),
    ({}, "unknown"),
])
def test_error_types_from_n8n_errors(error, expected):
    assert infer_error_type(error) == expected


def _schedule(node_type, parameters):
    workflow = N8nWorkflow(id="s", name="Scheduled", active=True,
                           nodes=[{"name": "Trigger", "type": node_type, "parameters": parameters}])
    return mapping.map_workflow(workflow)["schedule_minutes"]


@pytest.mark.parametrize("parameters, minutes", [
    ({"rule": {"interval": [{"field": "minutes", "minutesInterval": 15}]}}, 15),
    ({"rule": {"interval": [{"field": "minutes"}]}}, 5),  # n8n's default: every 5 minutes
    ({"rule": {"interval": [{"field": "hours", "hoursInterval": 2, "triggerAtMinute": 10}]}}, 120),
    ({"rule": {"interval": [{"field": "days", "triggerAtHour": 6}]}}, 1440),
    ({"rule": {"interval": [{"field": "seconds", "secondsInterval": 30}]}}, 1),
    ({"rule": {"interval": [{"field": "weeks", "weeksInterval": 1, "triggerAtDay": [1, 3, 5]}]}}, 3360),
    ({"rule": {"interval": [{"field": "days"}, {"field": "hours", "hoursInterval": 6}]}}, 360),
    ({"rule": {"interval": [{"field": "cronExpression", "expression": "*/10 * * * *"}]}}, 10),
    ({}, 1440),  # a Schedule Trigger as n8n creates it: every day at midnight
])
def test_schedule_trigger_intervals(parameters, minutes):
    assert _schedule("n8n-nodes-base.scheduleTrigger", parameters) == minutes


def test_legacy_cron_node_and_unknown_schedules():
    assert _schedule("n8n-nodes-base.cron", {"triggerTimes": {"item": [{"mode": "everyHour", "minute": 5}]}}) == 60
    assert _schedule("n8n-nodes-base.cron", {"triggerTimes": {"item": [{"mode": "everyX", "value": 3,
                                                                        "unit": "minutes"}]}}) == 3
    assert _schedule("n8n-nodes-base.cron", {"triggerTimes": {"item": [{"mode": "custom",
                                                                        "cronExpression": "0 0 * * 0"}]}}) == 7 * 1440
    assert _schedule("n8n-nodes-base.scheduleTrigger", {"rule": {"interval": [{"field": "cronExpression",
                                                                               "expression": "0 0 L * *"}]}}) is None
    assert _schedule("n8n-nodes-base.webhook", {"path": "x"}) is None


@pytest.mark.parametrize("expression, minutes", [
    ("* * * * *", 1),
    ("*/5 * * * *", 5),
    ("0 * * * *", 60),
    ("30 9 * * *", 1440),
    ("0 9 * * 1-5", 1440),  # weekdays: typically a day apart (the weekend gap is the exception)
    ("0 9,17 * * MON-FRI", 480),
    ("0 0 1 * *", 30 * 1440),
    ("0 0 1 1 *", 365 * 1440),
    ("*/20 * * * * *", 1),  # with seconds, several runs a minute
    ("0 */15 * * * *", 15),
    ("@hourly", 60),
    ("not a cron", None),
    ("61 * * * *", None),
    ("0 0 * * 1#2", None),
])
def test_cron_expressions(expression, minutes):
    if minutes == 30 * 1440:
        assert 28 * 1440 <= cron_interval_minutes(expression) <= 31 * 1440
    elif minutes == 365 * 1440:
        assert cron_interval_minutes(expression) in (365 * 1440, 366 * 1440)
    else:
        assert cron_interval_minutes(expression) == minutes
