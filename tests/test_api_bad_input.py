"""Bad input of any kind: a clear 4xx naming the problem, and nothing written. Never a 500."""

import json

import pytest
from django.test import override_settings

from monitoring.models import Alert, Execution, ExecutionLog, PerformanceMetric, Workflow, WorkflowError

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m"}
ERROR = {"workflow_id": "wf-1", "execution_id": "e1", "error_message": "boom"}
PERF = {"workflow_id": "wf-1", "execution_id": "e1", "total_duration": 10}
ALERT = {"workflow_id": "wf-1", "alert_type": "error", "severity": "warning", "title": "t"}
MODELS = (Workflow, Execution, ExecutionLog, WorkflowError, PerformanceMetric, Alert)


def nothing_written():
    return all(not m.objects.exists() for m in MODELS)


def raw_post(api, query, body, content_type="application/json"):
    return api.generic("POST", f"{URL}?{query}", body, content_type=content_type)


def assert_rejected(response, mentions, status=400):
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert body["success"] is False
    assert mentions.lower() in (body["error"] + json.dumps(body.get("details", {}))).lower(), body
    assert nothing_written()


@pytest.mark.parametrize("body, mentions", [
    ('{"workflow_id": "wf-1",', "JSON parse error"),
    ("[1, 2, 3]", "object"),
    ('"a string"', "object"),
    ('{"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": NaN}', "NaN"),
    ('{"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m", "duration": Infinity}', "Infinity"),
    ("[" * 100_000 + "]" * 100_000, "nested"),
    (b"\xff\xfe not utf-8", "UTF-8"),
])
def test_malformed_bodies(api, body, mentions):
    assert_rejected(raw_post(api, "type=log", body), mentions)


@pytest.mark.parametrize("change, mentions", [
    ({"message": {"an": "object"}}, "message"),
    ({"step_number": "abc"}, "step_number"),
    ({"duration": -1}, "duration"),
    ({"step_number": 2**40}, "step_number"),
    ({"log_level": "verbose"}, "log_level"),
    ({"workflow_id": ""}, "workflow_id"),
    ({"workflow_id": "x" * 256}, "workflow_id"),
    ({"workflow_id": True}, "workflow_id"),
    ({"message": "nul \x00 byte"}, "message"),
    ({"metadata": ["not", "an", "object"]}, "metadata"),
    ({"metadata": {"key": "nul \x00"}}, "NUL"),
    ({"metadata": {"a\x00b": 1}}, "NUL"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": "2026-13-45T00:00:00Z"}, "timestamp"),
    ({"timestamp": "2999-01-01T00:00:00Z"}, "future"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_log_fields(api, change, mentions):
    assert_rejected(api.post(f"{URL}?type=log", {**LOG, **change}, format="json"), mentions)


@pytest.mark.parametrize("missing", ["workflow_id", "execution_id", "log_level", "message"])
def test_missing_required_log_fields(api, missing):
    body = {k: v for k, v in LOG.items() if k != missing}
    assert_rejected(api.post(f"{URL}?type=log", body, format="json"), missing)


@pytest.mark.parametrize("kind, body, mentions", [
    ("error", {**ERROR, "severity": "urgent"}, "severity"),
    ("error", {**ERROR, "error_type": "cosmic"}, "error_type"),
    ("error", {k: v for k, v in ERROR.items() if k != "error_message"}, "error_message"),
    ("performance", {**PERF, "cpu_peak": 5000}, "cpu_peak"),
    ("performance", {**PERF, "memory_peak": 2**70}, "memory_peak"),
    ("performance", {**PERF, "total_duration": -5}, "total_duration"),
    ("performance", {**PERF, "bottleneck_nodes": "API Node"}, "bottleneck_nodes"),
    ("performance", {k: v for k, v in PERF.items() if k != "execution_id"}, "execution_id"),
    ("alert", {**ALERT, "alert_type": "x"}, "alert_type"),
    ("alert", {**ALERT, "severity": "fatal"}, "severity"),
    ("alert", {**ALERT, "title": "x" * 300}, "title"),
])
def test_bad_records_of_each_kind(api, kind, body, mentions):
    assert_rejected(api.post(f"{URL}?type={kind}", body, format="json"), mentions)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_oversized_body_is_413(api):
    body = json.dumps({**LOG, "message": "x" * 20_000})
    assert_rejected(raw_post(api, "type=log", body), "larger than", status=413)


@override_settings(FLOWTOWER_MAX_METADATA_BYTES=1000)
def test_oversized_metadata(api):
    assert_rejected(api.post(f"{URL}?type=log", {**LOG, "metadata": {"blob": "x" * 2000}}, format="json"), "metadata")


def test_deeply_nested_metadata(api):
    nested = {}
    for _ in range(50):
        nested = {"n": nested}
    assert_rejected(api.post(f"{URL}?type=log", {**LOG, "metadata": nested}, format="json"), "nested")


@pytest.mark.parametrize("query, mentions", [
    ("", "type"),
    ("type=everything", "type"),
    ("type=logs&limit=-1", "limit"),
    ("type=logs&limit=0", "limit"),
    ("type=logs&limit=100000", "limit"),
    ("type=logs&limit=abc", "limit"),
    ("type=logs&offset=-5", "offset"),
    ("type=logs&start_time=garbage", "start_time"),
    ("type=logs&start_time=2026-02-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", "start_time"),
    ("type=logs&log_levels=info,verbose", "verbose"),
    ("type=errors&severity=urgent", "severity"),
    ("type=errors&resolved=maybe", "resolved"),
    ("type=alerts&acknowledged=perhaps", "acknowledged"),
    ("type=dashboard&period=1y", "period"),
    ("type=live-status", "workflow_id"),
    ("type=logs&workflow_id=" + "x" * 300, "workflow_id"),
])
def test_bad_query_parameters(api, query, mentions):
    assert_rejected(api.get(f"{URL}?{query}"), mentions)


@pytest.mark.parametrize("query, body, mentions", [
    ("type=error&id=not-a-uuid", {"resolved": True}, "UUID"),
    ("type=error", {"resolved": True}, "id"),
    ("type=log&id=00000000-0000-0000-0000-000000000000", {}, "type"),
    ("type=alert&id=00000000-0000-0000-0000-000000000000", {"acknowledged": True}, "not found"),
])
def test_bad_patches(api, query, body, mentions):
    status = 404 if mentions == "not found" else 400
    assert_rejected(api.patch(f"{URL}?{query}", body, format="json"), mentions, status)


def test_bad_patch_bodies_change_nothing(api):
    alert_id = api.post(f"{URL}?type=alert", ALERT, format="json").json()["data"]["id"]
    for body, mentions in (({}, "acknowledged"), ({"acknowledged": "sure"}, "acknowledged"), ({"colour": 1}, "colour")):
        r = api.patch(f"{URL}?type=alert&id={alert_id}", body, format="json")
        assert r.status_code == 400 and mentions in json.dumps(r.json())
    assert Alert.objects.get(pk=alert_id).acknowledged is False


@pytest.mark.parametrize("query, mentions", [
    ("", "retention_days"), ("retention_days=0", "retention_days"), ("retention_days=-3", "retention_days"),
    ("retention_days=abc", "retention_days"),
])
def test_bad_retention_days(make_user, client_for, query, mentions):
    admin = client_for(make_user("root", superuser=True))
    assert_rejected(admin.delete(f"{URL}?{query}"), mentions)


def test_batch_with_one_invalid_item_writes_nothing(api):
    body = {"logs": [LOG, LOG, {**LOG, "log_level": "verbose"}], "errors": [ERROR], "alerts": [{**ALERT, "severity": "x"}]}
    r = api.post(f"{URL}?type=batch", body, format="json")
    assert_rejected(r, "log_level")
    details = r.json()["details"]
    assert set(details) == {"logs", "alerts"}
    assert list(details["logs"]) == ["2"] and "log_level" in details["logs"]["2"]
    assert "severity" in details["alerts"]["0"]


@pytest.mark.parametrize("body, mentions", [
    ({}, "empty"),
    ({"logs": []}, "empty"),
    ({"logs": LOG}, "list"),
    ({"metrics": [LOG]}, "metrics"),
])
def test_bad_batches(api, body, mentions):
    assert_rejected(api.post(f"{URL}?type=batch", body, format="json"), mentions)


@override_settings(FLOWTOWER_BATCH_MAX_ITEMS=3)
def test_batch_over_the_maximum(api):
    r = api.post(f"{URL}?type=batch", {"logs": [LOG] * 3, "alerts": [ALERT]}, format="json")
    assert_rejected(r, "at most 3")


@pytest.mark.parametrize("path, body, mentions", [
    ("/api/v1/logs/", {**LOG, "log_level": "verbose"}, "log_level"),
    ("/api/v1/errors/", {**ERROR, "severity": "urgent"}, "severity"),
    ("/api/v1/executions/", {"workflow_id": "wf-1", "execution_id": "e1", "state": "exploded"}, "state"),
    ("/api/v1/executions/", {"workflow_id": "wf-1", "execution_id": "e1", "started_at": "2026-01-02T00:00:00Z",
                             "stopped_at": "2026-01-01T00:00:00Z"}, "stopped_at"),
    ("/api/v1/workflows/", {"workflow_id": "wf-1", "tags": "not-a-list"}, "tags"),
])
def test_bad_input_on_the_resource_api(api, path, body, mentions):
    r = api.post(path, body, format="json")
    assert r.status_code == 400 and mentions in json.dumps(r.json())
    assert nothing_written()


@pytest.mark.parametrize("query, mentions", [
    ("level=info,verbose", "level"), ("since=garbage", "since"), ("limit=-1", "limit"), ("limit=99999", "limit"),
    ("cursor=garbage", "cursor"),
])
def test_bad_filters_on_the_resource_api(api, query, mentions):
    r = api.get(f"/api/v1/logs/?{query}")
    assert 400 <= r.status_code < 500 and mentions in json.dumps(r.json()).lower()


def test_unknown_record_ids_on_the_resource_api_are_404(api):
    assert api.get("/api/v1/logs/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api.get("/api/v1/logs/not-a-uuid/").status_code == 404
    assert api.get("/api/v1/executions/999999/").status_code == 404


def test_offsets_postgresql_cannot_store_are_normalised_not_500(api):
    # Found by the fuzzer: Python accepts UTC offsets up to ±24 h, PostgreSQL only ±15:59.
    r = api.get(f"{URL}?type=logs&start_time=0051-09-04T12:45:40%2B17:57")
    assert r.status_code == 200 and r.json()["data"] == []
    r = api.post(f"{URL}?type=log", {**LOG, "timestamp": "2026-01-01T12:00:00+17:57"}, format="json")
    assert r.status_code == 201 and r.json()["data"]["timestamp"] == "2025-12-31T18:03:00Z"
