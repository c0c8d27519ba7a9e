"""Bad input of every kind: a 4xx naming what was wrong, and not one row written or changed.

On the monitoring endpoint (/api/workflows/monitoring) the answer is its failure envelope
{"success": false, "error": "..."}; on /api/v1/ it is DRF's usual shape. Never a 500, never HTML.
The inputs that were 500s (lone surrogates, 1e400, 10**400, UTC offsets beyond ±15:59, a crafted
cursor, thousands of query parameters) are in their own section near the end, on both APIs."""

import asyncio
import http.client
import json
from base64 import b64encode
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import override_settings
from django.utils import timezone

from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    IdempotencyKey,
    PerformanceMetric,
    RetentionRun,
    Workflow,
    WorkflowError,
)
from monitoring.live.groups import team_group

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info", "message": "Processing step completed"}
ERROR = {"workflow_id": "wf-001", "execution_id": "exec-123", "error_type": "network", "severity": "high",
         "error_message": "Connection timeout to external API"}
PERF = {"workflow_id": "wf-001", "execution_id": "exec-123", "total_duration": 45000, "node_count": 6,
        "failed_nodes": 0, "cpu_peak": 85.5, "memory_peak": 134217728}
ALERT = {"workflow_id": "wf-001", "alert_type": "performance", "severity": "warning", "title": "High Execution Time"}
BODIES = {"log": LOG, "error": ERROR, "performance": PERF, "alert": ALERT}
MODELS = (Workflow, Execution, ExecutionLog, WorkflowError, PerformanceMetric, Alert, IdempotencyKey, RetentionRun)


def snapshot():
    """Every row the API could write or change, to compare before and after a rejected request."""
    return {m.__name__: sorted(map(repr, m.objects.values())) for m in MODELS}


@pytest.fixture
def existing(api):
    """Some data already there, so "nothing written" is not just "the tables are empty"."""
    ids = {}
    for kind, body in BODIES.items():
        r = api.post(f"{URL}?type={kind}", {**body, "execution_id": "exec-000"} if kind != "alert" else body, format="json")
        assert r.status_code == 201, r.content
        ids[kind] = r.json()["data"]["id"]
    return ids


@pytest.fixture
def unchanged(existing):
    before = snapshot()
    yield existing
    assert snapshot() == before, "a rejected request wrote or changed data"


def rejected(response, mentions, status=400):
    """The monitoring endpoint's failure envelope, an error sentence naming the problem, and the
    expected 4xx."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert body["success"] is False, body
    assert isinstance(body["error"], str) and body["error"]
    assert mentions.lower() in body["error"].lower(), body
    assert "data" not in body
    return body


def raw(api, method, query, text, content_type="application/json", **extra):
    return api.generic(method, f"{URL}?{query}", text, content_type=content_type, **extra)


def nested(depth):
    return "[" * depth + "]" * depth


# --- bodies that are not a JSON object ------------------------------------------------------------------
@pytest.mark.parametrize("text, mentions", [
    ('{"workflow_id": "wf-001",', "JSON parse error"),
    ("{'workflow_id': 'wf-001'}", "JSON parse error"),
    ("", "workflow_id"),  # an empty body is an empty object: the required fields are missing
    ("[]", "object"),
    ('[{"workflow_id": "wf-001"}]', "object"),
    ('"a string"', "object"),
    ("42", "object"),
    ("true", "object"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": NaN}', "NaN"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": "m", "duration": Infinity}', "Infinity"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": "m", "duration": -Infinity}', "Infinity"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": "m", "metadata": {"x": [1, NaN]}}', "NaN"),
    (nested(10000), "nested too deeply"),
    (nested(100_000), "nested too deeply"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": "m", "metadata": {"x": '
     + nested(10000) + "}}", "nested too deeply"),
    ('{"metadata": ' + '{"a": ' * 10000 + "1" + "}" * 10001, "nested too deeply"),
    (b"\xff\xfe\x00not utf-8", "UTF-8"),
])
@pytest.mark.parametrize("kind", ["log", "batch"])
def test_bodies_that_are_not_a_json_object(api, unchanged, kind, text, mentions):
    if kind == "batch" and mentions in ("workflow_id", "object"):
        mentions = "logs, errors, performance, alerts" if text != "" else "empty"
    rejected(raw(api, "POST", f"type={kind}", text), mentions)


def test_deep_nesting_is_400_with_an_idempotency_key_too(api, unchanged):
    rejected(raw(api, "POST", "type=log", nested(10000), HTTP_IDEMPOTENCY_KEY="deep"), "nested too deeply")


def test_null_body(api, unchanged):
    rejected(raw(api, "POST", "type=log", "null"), "null")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_other_media_types_are_415(api, unchanged, content_type):
    rejected(raw(api, "POST", "type=log", "workflow_id=wf-001", content_type=content_type), "media type", 415)


# --- fields of the wrong type or out of range ----------------------------------------------------------------
@pytest.mark.parametrize("kind, change, mentions", [
    ("log", {"message": {"an": "object"}}, "message"),
    ("log", {"message": ["a", "list"]}, "message"),
    ("log", {"message": None}, "message"),
    ("log", {"message": ""}, "message"),
    ("log", {"workflow_id": True}, "workflow_id"),
    ("log", {"workflow_id": ""}, "workflow_id"),
    ("log", {"workflow_id": "x" * 256}, "workflow_id"),
    ("log", {"execution_id": {"id": 1}}, "execution_id"),
    ("log", {"node_name": "n" * 256}, "node_name"),
    ("log", {"step_number": "abc"}, "step_number"),
    ("log", {"step_number": 1.5}, "step_number"),
    ("log", {"step_number": -1}, "step_number"),
    ("log", {"step_number": 2**31}, "step_number"),
    ("log", {"duration": -1}, "duration"),
    ("log", {"duration": "fast"}, "duration"),
    ("log", {"duration": 10**30}, "duration"),
    ("log", {"metadata": ["not", "an", "object"]}, "metadata"),
    ("log", {"metadata": "records=1000"}, "metadata"),
    ("log", {"metadata": None}, "metadata"),
    ("error", {"error_message": {"x": 1}}, "error_message"),
    ("error", {"error_code": "C" * 101}, "error_code"),
    ("performance", {"cpu_peak": 5000}, "cpu_peak"),
    ("performance", {"cpu_peak": -1}, "cpu_peak"),
    ("performance", {"cpu_peak": "high"}, "cpu_peak"),
    ("performance", {"cpu_average": 1000}, "cpu_average"),
    ("performance", {"memory_peak": 2**70}, "memory_peak"),
    ("performance", {"memory_peak": 2**63}, "memory_peak"),
    ("performance", {"memory_average": -1}, "memory_average"),
    ("performance", {"network_data_transferred": 2**64}, "network_data_transferred"),
    ("performance", {"total_duration": -5}, "total_duration"),
    ("performance", {"total_duration": 2**31}, "total_duration"),
    ("performance", {"total_duration": None}, "total_duration"),
    ("performance", {"node_count": -1}, "node_count"),
    ("performance", {"throughput": 1e12}, "throughput"),
    ("performance", {"bottleneck_nodes": "API Node"}, "bottleneck_nodes"),
    ("performance", {"bottleneck_nodes": [{"name": "API Node"}]}, "bottleneck_nodes"),
    ("performance", {"bottleneck_nodes": ["n"] * 101}, "bottleneck_nodes"),
    ("alert", {"title": "x" * 256}, "title"),
    ("alert", {"title": ""}, "title"),
    ("alert", {"description": ["a"]}, "description"),
])
def test_wrong_types_and_out_of_range_values(api, unchanged, kind, change, mentions):
    rejected(api.post(f"{URL}?type={kind}", {**BODIES[kind], **change}, format="json"), mentions)


@pytest.mark.parametrize("kind, change, mentions", [
    ("log", {"log_level": "verbose"}, "log_level"),
    ("log", {"log_level": "INFO"}, "log_level"),
    ("log", {"log_level": "warning"}, "log_level"),
    ("error", {"severity": "urgent"}, "severity"),
    ("error", {"severity": "warning"}, "severity"),  # an alert severity, not an error one
    ("error", {"error_type": "cosmic"}, "error_type"),
    ("alert", {"alert_type": "x"}, "alert_type"),
    ("alert", {"severity": "high"}, "severity"),  # an error severity, not an alert one
    ("alert", {"severity": "fatal"}, "severity"),
])
def test_unknown_enum_values(api, unchanged, kind, change, mentions):
    body = rejected(api.post(f"{URL}?type={kind}", {**BODIES[kind], **change}, format="json"), mentions)
    assert list(body["details"]) == list(change)


@pytest.mark.parametrize("kind, extra", [
    ("log", {"colour": "blue"}),
    ("log", {"level": "info"}),  # the TypeScript client's option name, not the API's field
    ("log", {"nodeName": "Start Node"}),
    ("error", {"stack": "Error: ..."}),
    ("performance", {"totalDuration": 45000}),
    ("alert", {"type": "performance"}),
    ("alert", {"acknowledged": True}),  # set by PATCH, not by the sender
])
def test_unknown_fields_are_named(api, unchanged, kind, extra):
    name = next(iter(extra))
    body = rejected(api.post(f"{URL}?type={kind}", {**BODIES[kind], **extra}, format="json"), name)
    assert body["details"] == {name: ["Unknown field."]}


@pytest.mark.parametrize("kind, missing", [
    ("log", "workflow_id"), ("log", "execution_id"), ("log", "log_level"), ("log", "message"),
    ("error", "workflow_id"), ("error", "execution_id"), ("error", "error_message"),
    ("performance", "workflow_id"), ("performance", "execution_id"), ("performance", "total_duration"),
    ("alert", "workflow_id"), ("alert", "alert_type"), ("alert", "severity"), ("alert", "title"),
])
def test_missing_required_fields(api, unchanged, kind, missing):
    body = {k: v for k, v in BODIES[kind].items() if k != missing}
    details = rejected(api.post(f"{URL}?type={kind}", body, format="json"), missing)["details"]
    assert details == {missing: ["This field is required."]}


def test_every_problem_of_a_record_is_listed(api, unchanged):
    body = {"workflow_id": "", "log_level": "verbose", "message": "m", "duration": -1, "colour": 1}
    details = rejected(api.post(f"{URL}?type=log", body, format="json"), "colour")["details"]
    assert set(details) == {"colour"}  # unknown fields first: a typo is reported before anything else
    details = rejected(api.post(f"{URL}?type=log", {k: v for k, v in body.items() if k != "colour"}, format="json"),
                       "workflow_id")["details"]
    assert set(details) == {"workflow_id", "execution_id", "log_level", "duration"}


# --- size -----------------------------------------------------------------------------------------------------------
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
@pytest.mark.parametrize("query", ["type=log", "type=batch"])
def test_oversized_body_is_413(api, unchanged, query):
    rejected(raw(api, "POST", query, json.dumps({**LOG, "message": "x" * 20_000})), "larger than 10000 bytes", 413)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_body_just_under_the_limit_is_accepted(api, existing):
    body = json.dumps({**LOG, "message": "x" * 9_000})
    assert len(body) < 10_000
    assert raw(api, "POST", "type=log", body).status_code == 201


@override_settings(FLOWTOWER_MAX_METADATA_BYTES=1000)
def test_oversized_metadata(api, unchanged):
    body = rejected(api.post(f"{URL}?type=log", {**LOG, "metadata": {"blob": "x" * 2000}}, format="json"), "metadata")
    assert "at most 1000" in body["error"]


@pytest.mark.parametrize("depth", [22, 50, 500])
def test_deeply_nested_metadata(api, unchanged, depth):
    value = {}
    for _ in range(depth):
        value = {"n": value}
    rejected(api.post(f"{URL}?type=log", {**LOG, "metadata": value}, format="json"), "nested deeper than 20")
    rejected(raw(api, "POST", "type=log", json.dumps({**LOG, "metadata": {"x": json.loads(nested(depth))}})),
             "metadata")


def test_moderately_nested_metadata_is_fine(api, existing):
    value = {"a": [{"b": {"c": [1, 2, {"d": "e"}]}}]}
    r = api.post(f"{URL}?type=log", {**LOG, "metadata": value}, format="json")
    assert r.status_code == 201 and ExecutionLog.objects.get(pk=r.json()["data"]["id"]).metadata == value


# --- NUL characters (PostgreSQL cannot store them) ------------------------------------------------------------------
@pytest.mark.parametrize("kind, change, mentions", [
    ("log", {"message": "nul \x00 byte"}, "message"),
    ("log", {"workflow_id": "wf\x00"}, "workflow_id"),
    ("log", {"execution_id": "\x00"}, "execution_id"),
    ("log", {"node_name": "a\x00b"}, "node_name"),
    ("log", {"metadata": {"key": "nul \x00"}}, "NUL"),
    ("log", {"metadata": {"a\x00b": 1}}, "NUL"),
    ("log", {"metadata": {"list": [["deep", {"x": "\x00"}]]}}, "NUL"),
    ("error", {"error_stack": "at x\x00"}, "error_stack"),
    ("error", {"error_code": "\x00"}, "error_code"),
    ("performance", {"bottleneck_nodes": ["API\x00"]}, "bottleneck_nodes"),
    ("alert", {"title": "t\x00"}, "title"),
    ("alert", {"description": "\x00"}, "description"),
])
def test_nul_characters(api, unchanged, kind, change, mentions):
    rejected(api.post(f"{URL}?type={kind}", {**BODIES[kind], **change}, format="json"), mentions)


def test_nul_in_an_idempotency_key(api, unchanged):
    rejected(api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="a\x00b"), "Idempotency-Key")


# --- timestamps -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, mentions", [
    ("yesterday", "timestamp"),
    ("2026-13-45T00:00:00Z", "timestamp"),
    ("2026-02-30T00:00:00Z", "timestamp"),
    ("2999-01-01T00:00:00Z", "future"),
    ("10000-01-01T00:00:00Z", "timestamp"),
    ("0001-01-01T00:00:00+01:00", "out of range"),
    ("2026-01-01T00:00:00+25:00", "timestamp"),
    (1767225600, "timestamp"),  # epoch seconds are not an ISO timestamp
    (None, "timestamp"),
    ("", "timestamp"),
])
@pytest.mark.parametrize("kind", ["log", "error", "performance", "alert"])
def test_bad_timestamps(api, unchanged, kind, value, mentions):
    rejected(api.post(f"{URL}?type={kind}", {**BODIES[kind], "timestamp": value}, format="json"), mentions)


def test_more_than_an_hour_ahead_is_the_future(api, existing):
    ahead = timezone.now() + timedelta(hours=2)
    rejected(api.post(f"{URL}?type=log", {**LOG, "timestamp": ahead.isoformat()}, format="json"), "future")
    # A sender's clock a few minutes fast is tolerated.
    skewed = timezone.now() + timedelta(minutes=5)
    assert api.post(f"{URL}?type=log", {**LOG, "timestamp": skewed.isoformat()}, format="json").status_code == 201


# --- query parameters -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, mentions", [
    ("", "type"),
    ("type=", "type"),
    ("type=everything", "type"),
    ("type=log", "type"),  # GET lists are plural
    ("type=batch", "type"),
    ("type=logs&limit=-1", "limit"),
    ("type=logs&limit=0", "limit"),
    ("type=logs&limit=100000", "limit"),
    ("type=logs&limit=abc", "limit"),
    ("type=logs&limit=1e3", "limit"),
    ("type=logs&limit=2.5", "limit"),
    ("type=logs&offset=-5", "offset"),
    ("type=logs&offset=abc", "offset"),
    ("type=logs&start_time=garbage", "start_time"),
    ("type=logs&start_time=2026-13-45T00:00:00Z", "start_time"),
    ("type=logs&end_time=yesterday", "end_time"),
    ("type=logs&start_time=0001-01-01T00:00:00%2B01:00", "start_time"),
    ("type=logs&start_time=2026-02-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", "start_time"),
    ("type=logs&log_levels=info,verbose", "verbose"),
    ("type=logs&log_levels=INFO", "log_levels"),
    ("type=errors&severity=urgent", "severity"),
    ("type=errors&severity=warning", "severity"),
    ("type=errors&error_type=cosmic", "error_type"),
    ("type=errors&resolved=maybe", "resolved"),
    ("type=alerts&acknowledged=perhaps", "acknowledged"),
    ("type=alerts&severity=high", "severity"),
    ("type=alerts&alert_type=x", "alert_type"),
    ("type=alerts&resolved=2", "resolved"),
    ("type=dashboard&period=1y", "period"),
    ("type=dashboard&end_time=0001-01-01T00:00:00Z", "end_time"),
    ("type=dashboard&start_time=garbage", "start_time"),
    ("type=live-status", "workflow_id"),
    ("type=logs&workflow_id=" + "x" * 300, "workflow_id"),
    ("type=logs&execution_id=a%00b", "execution_id"),
    ("type=logs&workflow_id=wf%00", "workflow_id"),
    ("type=logs&q=%00", "q"),
    ("type=logs&team=a%00", "team"),
])
def test_bad_query_parameters(api, unchanged, query, mentions):
    rejected(api.get(f"{URL}?{query}"), mentions)


@pytest.mark.parametrize("query", ["type=logs&workflow_id=wf-unknown", "type=live-status&workflow_id=wf-unknown",
                                   "type=dashboard&workflow_id=wf-unknown", "type=logs&team=nope"])
def test_unknown_workflow_or_team_is_404(api, unchanged, query):
    rejected(api.get(f"{URL}?{query}"), "not found", 404)


@pytest.mark.parametrize("query", ["type=logs", "type=alerts", "type=live-status", "type=dashboard", "type=", ""])
def test_bad_post_types(api, unchanged, query):
    rejected(api.post(f"{URL}?{query}", LOG, format="json"), "type")


# --- PATCH ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, body, mentions, status", [
    ("type=error&id=not-a-uuid", {"resolved": True}, "UUID", 400),
    ("type=error&id=123", {"resolved": True}, "UUID", 400),
    ("type=error", {"resolved": True}, "id", 400),
    ("id=00000000-0000-0000-0000-000000000000", {"resolved": True}, "type", 400),
    ("type=log&id=00000000-0000-0000-0000-000000000000", {"resolved": True}, "type", 400),
    ("type=performance&id=00000000-0000-0000-0000-000000000000", {"resolved": True}, "type", 400),
    ("type=error&id=00000000-0000-0000-0000-000000000000", {"resolved": True}, "not found", 404),
    ("type=alert&id=00000000-0000-0000-0000-000000000000", {"acknowledged": True}, "not found", 404),
])
def test_bad_patch_queries(api, unchanged, query, body, mentions, status):
    rejected(api.patch(f"{URL}?{query}", body, format="json"), mentions, status)


@pytest.mark.parametrize("body, mentions", [
    ({}, "resolved"),
    ({"resolved": "maybe"}, "resolved"),
    ({"resolved": None}, "resolved"),
    ({"resolved": True, "resolution_notes": {"a": 1}}, "resolution_notes"),
    ({"resolved": True, "resolution_notes": "a\x00"}, "resolution_notes"),
    ({"resolved": True, "resolved_by": "x" * 256}, "resolved_by"),
    ({"resolved": True, "notes": "typo"}, "notes"),
    ([{"resolved": True}], "object"),
])
def test_bad_error_resolutions_change_nothing(api, unchanged, body, mentions):
    rejected(api.patch(f"{URL}?type=error&id={unchanged['error']}", body, format="json"), mentions)


@pytest.mark.parametrize("body, mentions", [
    ({}, "acknowledged"),
    ({"acknowledged_by": "team-lead"}, "acknowledged"),
    ({"acknowledged": "sure"}, "acknowledged"),
    ({"acknowledged": 5}, "acknowledged"),
    ({"acknowledged": True, "acknowledged_by": "a\x00"}, "acknowledged_by"),
    ({"acknowledged": True, "colour": 1}, "colour"),
])
def test_bad_alert_updates_change_nothing(api, unchanged, body, mentions):
    rejected(api.patch(f"{URL}?type=alert&id={unchanged['alert']}", body, format="json"), mentions)


def test_patch_with_a_malformed_or_deep_body(api, unchanged):
    target = f"type=alert&id={unchanged['alert']}"
    rejected(raw(api, "PATCH", target, '{"acknowledged": tru'), "JSON parse error")
    rejected(raw(api, "PATCH", target, nested(10000)), "nested too deeply")
    rejected(raw(api, "PATCH", target, nested(50)), "object")


def test_patch_with_the_id_of_another_kind_is_404(api, unchanged):
    rejected(api.patch(f"{URL}?type=error&id={unchanged['alert']}", {"resolved": True}, format="json"), "not found", 404)


# --- DELETE -------------------------------------------------------------------------------------------------------------
@pytest.fixture
def root(make_user, client_for, api):
    # An old record a valid call would delete: a rejected one must leave it.
    old = (timezone.now() - timedelta(days=400)).isoformat()
    assert api.post(f"{URL}?type=log", {**LOG, "execution_id": "old", "timestamp": old}, format="json").status_code == 201
    return client_for(make_user("root", superuser=True))


@pytest.mark.parametrize("query, mentions", [
    ("", "retention_days"),
    ("retention_days=", "retention_days"),
    ("retention_days=0", "retention_days"),
    ("retention_days=-3", "retention_days"),
    ("retention_days=abc", "retention_days"),
    ("retention_days=1.5", "retention_days"),
    ("retention_days=99999999999999999999", "retention_days"),
    ("retention_days=90&dry_run=maybe", "dry_run"),
])
def test_bad_retention_days(root, unchanged, query, mentions):
    rejected(root.delete(f"{URL}?{query}"), mentions)


# --- batches --------------------------------------------------------------------------------------------------------------
def test_batch_with_one_invalid_item_writes_nothing(api, unchanged):
    body = {"logs": [LOG, LOG, {**LOG, "log_level": "verbose"}, LOG], "errors": [ERROR], "performance": [PERF],
            "alerts": [ALERT]}
    details = rejected(api.post(f"{URL}?type=batch", body, format="json"), "logs")["details"]
    assert details == {"logs": {"2": {"log_level": ['"verbose" is not a valid choice.']}}}


def test_batch_errors_name_every_list_and_index(api, unchanged):
    body = {
        "logs": [LOG, {**LOG, "message": None}, LOG, {**LOG, "duration": -1}],
        "errors": [ERROR, {**ERROR, "severity": "urgent"}],
        "performance": [{**PERF, "cpu_peak": 5000}],
        "alerts": [ALERT, ALERT],
    }
    details = rejected(api.post(f"{URL}?type=batch", body, format="json"), "logs: 1: message")["details"]
    assert set(details) == {"logs", "errors", "performance"}
    assert set(details["logs"]) == {"1", "3"} and "message" in details["logs"]["1"] and "duration" in details["logs"]["3"]
    assert set(details["errors"]) == {"1"} and "severity" in details["errors"]["1"]
    assert set(details["performance"]) == {"0"} and "cpu_peak" in details["performance"]["0"]


@pytest.mark.parametrize("items, index", [([LOG, 1], "1"), ([None, LOG], "0"), ([LOG, "log"], "1"), ([[LOG]], "0")])
def test_batch_items_that_are_not_objects(api, unchanged, items, index):
    details = rejected(api.post(f"{URL}?type=batch", {"logs": items}, format="json"), "logs")["details"]
    assert list(details["logs"]) == [index]


@pytest.mark.parametrize("body, mentions", [
    ({}, "empty"),
    ({"logs": []}, "empty"),
    ({"logs": [], "errors": [], "performance": [], "alerts": []}, "empty"),
    ({"logs": LOG}, "list"),
    ({"logs": None}, "list"),
    ({"logs": "[]"}, "list"),
    ({"metrics": [LOG]}, "metrics"),
    ({"logs": [LOG], "log": [LOG]}, "log"),
    ([LOG], "object"),
])
def test_bad_batches(api, unchanged, body, mentions):
    rejected(api.post(f"{URL}?type=batch", body, format="json"), mentions)


@override_settings(FLOWTOWER_BATCH_MAX_ITEMS=3)
def test_batch_over_the_maximum(api, unchanged):
    body = rejected(api.post(f"{URL}?type=batch", {"logs": [LOG] * 3, "alerts": [ALERT]}, format="json"), "at most 3")
    assert "4 items" in body["error"]


@override_settings(FLOWTOWER_BATCH_MAX_ITEMS=3)
def test_batch_at_the_maximum_is_accepted(api, existing):
    r = api.post(f"{URL}?type=batch", {"logs": [LOG] * 2, "alerts": [ALERT]}, format="json")
    assert r.status_code == 201 and r.json()["data"]["created"]["logs"] == 2


# --- the same kinds of bad input on /api/v1/ ----------------------------------------------------------------------------------
def drf_rejected(response, mentions, status=400):
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert isinstance(body, (dict, list)) and "success" not in body  # DRF's own shape, not the envelope
    assert mentions.lower() in json.dumps(body).lower(), body
    return body


V1_POSTS = {"log": "/api/v1/logs/", "error": "/api/v1/errors/", "performance": "/api/v1/performance/",
            "alert": "/api/v1/alerts/"}


@pytest.mark.parametrize("text, mentions", [
    ('{"workflow_id": ', "JSON parse error"),
    ("[]", "object"),
    ('"string"', "object"),
    ('{"workflow_id": "wf-001", "execution_id": "e", "log_level": "info", "message": NaN}', "NaN"),
    (nested(10000), "nested too deeply"),
    ('{"metadata": {"x": ' + nested(10000) + "}}", "nested too deeply"),
])
def test_v1_bodies_that_are_not_a_json_object(api, unchanged, text, mentions):
    drf_rejected(api.generic("POST", "/api/v1/logs/", text, content_type="application/json"), mentions)


@pytest.mark.parametrize("kind, change, mentions", [
    ("log", {"log_level": "verbose"}, "log_level"),
    ("log", {"message": {"an": "object"}}, "message"),
    ("log", {"step_number": "abc"}, "step_number"),
    ("log", {"duration": -1}, "duration"),
    ("log", {"message": "a\x00"}, "message"),
    ("log", {"metadata": {"k\x00": 1}}, "metadata"),
    ("log", {"colour": "blue"}, "colour"),
    ("log", {"timestamp": "yesterday"}, "timestamp"),
    ("log", {"timestamp": "2999-01-01T00:00:00Z"}, "future"),
    ("error", {"severity": "urgent"}, "severity"),
    ("performance", {"cpu_peak": 5000}, "cpu_peak"),
    ("performance", {"memory_peak": 2**70}, "memory_peak"),
    ("alert", {"alert_type": "x"}, "alert_type"),
])
def test_v1_bad_records(api, unchanged, kind, change, mentions):
    drf_rejected(api.post(V1_POSTS[kind], {**BODIES[kind], **change}, format="json"), mentions)


@pytest.mark.parametrize("kind, missing", [("log", "message"), ("error", "error_message"), ("performance", "total_duration"),
                                           ("alert", "title")])
def test_v1_missing_fields(api, unchanged, kind, missing):
    body = {k: v for k, v in BODIES[kind].items() if k != missing}
    r = api.post(V1_POSTS[kind], body, format="json")
    assert drf_rejected(r, missing) == {missing: ["This field is required."], "request_id": r["X-Request-ID"]}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_v1_oversized_body_is_413(api, unchanged):
    drf_rejected(api.generic("POST", "/api/v1/logs/", json.dumps({**LOG, "message": "x" * 20_000}),
                             content_type="application/json"), "larger than", 413)


def test_v1_nul_in_an_idempotency_key(api, unchanged):
    drf_rejected(api.post("/api/v1/logs/", LOG, format="json", HTTP_IDEMPOTENCY_KEY="\x00"), "Idempotency-Key")


@pytest.mark.parametrize("path, body, mentions", [
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "e9", "state": "exploded"}, "state"),
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "e9", "started_at": "2026-01-02T00:00:00Z",
                             "stopped_at": "2026-01-01T00:00:00Z"}, "stopped_at"),
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "e9", "duration_ms": 2**63}, "duration_ms"),
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "e9", "started_at": "0001-01-01T00:00:00+01:00"},
     "started_at"),
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "e9", "retry_of": "a\x00"}, "retry_of"),
    ("/api/v1/executions/", {"execution_id": "e9"}, "workflow_id"),
    ("/api/v1/workflows/", {"workflow_id": "wf-9", "tags": "not-a-list"}, "tags"),
    ("/api/v1/workflows/", {"workflow_id": "wf-9", "tags": ["a\x00"]}, "tags"),
    ("/api/v1/workflows/", {"workflow_id": "wf-001"}, "already exists"),
    ("/api/v1/workflows/", {"name": "no id"}, "workflow_id"),
])
def test_v1_bad_executions_and_workflows(api, unchanged, path, body, mentions):
    drf_rejected(api.post(path, body, format="json"), mentions)


def test_v1_execution_cannot_stop_before_it_started(api, unchanged):
    execution = Execution.objects.get(external_id="exec-000")
    before = (execution.started_at - timedelta(days=1)).isoformat()
    drf_rejected(api.patch(f"/api/v1/executions/{execution.pk}/", {"stopped_at": before}, format="json"), "stopped_at")


@pytest.mark.parametrize("path, body, mentions", [
    ("/api/v1/errors/{error}/", {"resolved": "maybe"}, "resolved"),
    ("/api/v1/errors/{error}/", {}, "resolved"),
    ("/api/v1/errors/{error}/", [], "object"),
    ("/api/v1/alerts/{alert}/", {}, "acknowledged"),
    ("/api/v1/alerts/{alert}/", {"acknowledged": True, "colour": 1}, "colour"),
])
def test_v1_bad_patches(api, unchanged, path, body, mentions):
    drf_rejected(api.patch(path.format(**unchanged), body, format="json"), mentions)


@pytest.mark.parametrize("path, query, mentions", [
    ("logs", "level=info,verbose", "level"),
    ("logs", "since=garbage", "since"),
    ("logs", "until=2026-13-45T00:00:00Z", "until"),
    ("logs", "since=0001-01-01T00:00:00%2B01:00", "since"),
    ("logs", "limit=-1", "limit"),
    ("logs", "limit=0", "limit"),
    ("logs", "limit=99999", "limit"),
    ("logs", "limit=abc", "limit"),
    ("logs", "workflow_id=a%00b", "workflow_id"),
    ("logs", "execution_id=%00", "execution_id"),
    ("logs", "q=%00", "q"),
    ("errors", "severity=urgent", "severity"),
    ("errors", "resolved=maybe", "resolved"),
    ("errors", "offset=-5", "offset"),
    ("errors", "limit=abc", "limit"),
    ("alerts", "alert_type=x", "alert_type"),
    ("alerts", "acknowledged=perhaps", "acknowledged"),
    ("performance", "since=yesterday", "since"),
    ("executions", "state=exploded", "state"),
    ("executions", "started_after=garbage", "started_after"),
    ("workflows", "active=maybe", "active"),
    ("logs", "cursor=garbage", "Invalid cursor"),
])
def test_v1_bad_filters(api, unchanged, path, query, mentions):
    drf_rejected(api.get(f"/api/v1/{path}/?{query}"), mentions)


@pytest.mark.parametrize("path, query", [
    ("logs", "workflow_id=wf-unknown"),
    ("logs", "team=nope"),
    ("logs/00000000-0000-0000-0000-000000000000", ""),
    ("logs/not-a-uuid", ""),
    ("executions/999999", ""),
    ("executions/abc", ""),
])
def test_v1_unknown_things_are_404(api, unchanged, path, query):
    assert api.get(f"/api/v1/{path}/?{query}").status_code == 404


@pytest.mark.parametrize("value, resolved", [("true", True), ("True", True), ("1", True), ("yes", True),
                                             ("false", False), ("0", False), ("no", False)])
def test_v1_boolean_filters_still_accept_true_and_false(api, existing, value, resolved):
    api.patch(f"/api/v1/errors/{existing['error']}/", {"resolved": True}, format="json")
    api.post(f"{URL}?type=error", ERROR, format="json")
    results = api.get(f"/api/v1/errors/?resolved={value}").json()["results"]
    assert len(results) == 1 and results[0]["resolved"] is resolved


def test_a_timestamp_posted_with_an_offset_postgresql_cannot_store_is_kept_in_utc(api, existing):
    # Python accepts UTC offsets up to ±23:59, PostgreSQL only ±15:59: a posted timestamp is stored in UTC.
    r = api.post(f"{URL}?type=log", {**LOG, "timestamp": "2026-01-01T12:00:00+17:57"}, format="json")
    assert r.status_code == 201 and r.json()["data"]["timestamp"] == "2025-12-31T18:03:00Z"


# --- the inputs that were 500s: each a 4xx JSON naming the problem, nothing written --------------------------------
def json_rejected(response, mentions, status=400):
    """A JSON 4xx naming the problem, whatever its shape (some refusals come before either API's own
    error handling); never HTML."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert mentions.lower() in response.content.decode().lower(), response.content[:300]


def log_text(**fields):
    """A log body as raw JSON text, so that escapes like \\udfff reach the server as written."""
    body = json.dumps({k: v for k, v in LOG.items() if k not in fields})[:-1]
    return body + "".join(f', "{k}": {v}' for k, v in fields.items()) + "}"


LONE_SURROGATES = [
    log_text(metadata='{"k": "\\udfff"}'),
    log_text(metadata='{"\\udfff": 1}'),
    log_text(metadata='{"k": ["ok", {"deep": "\\ud800"}]}'),
    log_text(metadata='{"k": "\\udc00\\ud800"}'),  # a pair in the wrong order is two lone halves
    log_text(message='"lone \\ud83d half"'),
    log_text(node_name='"\\uDFFF"'),
]


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_lone_surrogates(api, unchanged, text):
    rejected(raw(api, "POST", "type=log", text), "surrogate")
    rejected(raw(api, "POST", "type=batch", '{"logs": [' + text + "]}"), "surrogate")
    drf_rejected(api.generic("POST", "/api/v1/logs/", text, content_type="application/json"), "surrogate")


def test_lone_surrogates_in_patches_and_other_records(api, unchanged):
    rejected(raw(api, "PATCH", f"type=error&id={unchanged['error']}", '{"resolved": true, "resolution_notes": "\\ud800"}'),
             "surrogate")
    rejected(raw(api, "POST", "type=alert", json.dumps(ALERT)[:-1] + ', "description": "\\udfff"}'), "surrogate")
    drf_rejected(api.generic("PATCH", f"/api/v1/alerts/{unchanged['alert']}/",
                             '{"acknowledged": true, "acknowledged_by": "\\udfff"}', content_type="application/json"),
                 "surrogate")


def test_a_surrogate_pair_is_an_ordinary_character(api, existing):
    # What the lone-surrogate check must not catch: an escaped emoji (U+1F600) is two halves in order.
    r = raw(api, "POST", "type=log", log_text(message='"done \\ud83d\\ude00"', metadata='{"\\ud83d\\ude00": "\\ud83d\\ude00"}'))
    assert r.status_code == 201, r.content
    row = ExecutionLog.objects.get(pk=r.json()["data"]["id"])
    assert row.message == "done \U0001F600" and row.metadata == {"\U0001F600": "\U0001F600"}


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1e309", "123456789e999"])
def test_numbers_beyond_a_double(api, unchanged, number):
    text = log_text(metadata=f'{{"n": {number}}}')
    rejected(raw(api, "POST", "type=log", text), "out of range")
    drf_rejected(api.generic("POST", "/api/v1/logs/", text, content_type="application/json"), "out of range")
    rejected(raw(api, "POST", "type=log", log_text(duration=number)), "out of range")


@pytest.mark.parametrize("number", [10**400, 2**64, -(2**63) - 1, -(10**400)])
def test_integers_json_readers_cannot_carry_in_metadata(api, unchanged, number):
    # Stored, such a number silently broke the live update (OverflowError); it is refused instead.
    text = log_text(metadata=f'{{"n": {number}, "list": [1]}}')
    rejected(raw(api, "POST", "type=log", text), "metadata")
    rejected(raw(api, "POST", "type=log", log_text(metadata=f'{{"deep": [{{"n": {number}}}]}}')), "metadata")
    rejected(raw(api, "POST", "type=batch", '{"alerts": [' + json.dumps(ALERT)[:-1] + f', "metadata": {{"n": {number}}}}}]}}'),
             "alerts")
    drf_rejected(api.generic("POST", "/api/v1/logs/", text, content_type="application/json"), "metadata")


@pytest.mark.parametrize("kind, field", [("log", "duration"), ("log", "step_number"), ("performance", "total_duration"),
                                         ("performance", "memory_peak"), ("performance", "network_requests")])
def test_huge_integers_in_numeric_fields(api, unchanged, kind, field):
    text = json.dumps({k: v for k, v in BODIES[kind].items() if k != field})[:-1] + f', "{field}": {10**400}}}'
    rejected(raw(api, "POST", f"type={kind}", text), field)


def test_large_numbers_that_fit_are_stored_and_read_back(api, existing):
    metadata = {"big": 2**63 - 1, "unsigned": 2**64 - 1, "small": -(2**63), "ratio": 0.1, "tiny": 5e-324,
                "fraction": 123456.789}
    r = api.post(f"{URL}?type=log", {**LOG, "metadata": metadata}, format="json")
    assert r.status_code == 201, r.content
    assert ExecutionLog.objects.get(pk=r.json()["data"]["id"]).metadata == metadata
    listed = api.get(f"{URL}?type=logs&execution_id={LOG['execution_id']}").json()["data"]
    assert [row["metadata"] for row in listed] == [metadata]


@pytest.mark.parametrize("number", [1e20, -1e19, 1.5e308])
def test_a_whole_double_beyond_64_bits_in_metadata_is_refused_or_survives_reading_back(api, team, number,
                                                                                        django_capture_on_commit_callbacks):
    """PostgreSQL's jsonb keeps 1e20 as the integer 100000000000000000000: read back (for the
    live update of a resolved error, the list, the dashboard), it is a number beyond 64 bits again,
    and the live update was dropped (OverflowError in the channel layer). Either refuse such
    numbers, or store them so that every reader copes."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(team_group(team.id), channel)
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"{URL}?type=error", {**ERROR, "metadata": {"n": number}}, format="json")
    if r.status_code == 400:
        rejected(r, "metadata")
        assert not WorkflowError.objects.exists()
        return
    assert r.status_code == 201, r.content
    with django_capture_on_commit_callbacks(execute=True):
        r = api.patch(f"{URL}?type=error&id={r.json()['data']['id']}", {"resolved": True}, format="json")
    # Read back as the same double (jsonb may write it without a decimal point).
    assert r.status_code == 200 and float(r.json()["data"]["metadata"]["n"]) == number
    updates = [e for e in received(layer, channel) if e["type"] == "error" and e["action"] == "updated"]
    assert updates, "the live update was dropped"
    assert float(updates[0]["data"]["metadata"]["n"]) == number


def received(layer, channel, quiet=1.0):
    """Every event that reaches `channel` until it stays quiet for `quiet` seconds."""
    events = []

    async def receive():
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), quiet)
            except asyncio.TimeoutError:
                return
            # Each event as a dict, or as its JSON text (what the sockets forward).
            events.extend(json.loads(e) if isinstance(e, str) else e for e in message["events"])

    async_to_sync(receive)()
    return events


FAR_OFFSETS = ["%2B16:00", "-16:00", "%2B23:59"]


@pytest.mark.parametrize("offset", FAR_OFFSETS)
@pytest.mark.parametrize("query, param", [
    ("type=logs&start_time=2026-01-01T00:00:00{}", "start_time"),
    ("type=errors&end_time=2026-01-01T00:00:00{}", "end_time"),
    ("type=dashboard&start_time=2026-01-01T00:00:00{}", "start_time"),
    ("type=alerts&start_time=2025-01-01T00:00:00Z&end_time=2026-01-01T00:00:00{}", "end_time"),
])
def test_time_filters_with_utc_offsets_beyond_1559(api, unchanged, offset, query, param):
    body = rejected(api.get(f"{URL}?{query.format(offset)}"), param)
    assert "UTC offset" in body["error"]


@pytest.mark.parametrize("offset", FAR_OFFSETS)
@pytest.mark.parametrize("path, param", [("logs", "since"), ("logs", "until"), ("errors", "since"), ("alerts", "until"),
                                         ("performance", "since"), ("executions", "started_after"),
                                         ("executions", "started_before")])
def test_v1_time_filters_with_utc_offsets_beyond_1559(api, unchanged, offset, path, param):
    drf_rejected(api.get(f"/api/v1/{path}/?{param}=2026-01-01T00:00:00{offset}"), param)


def in_zone(moment, hours, minutes):
    """`moment` written as local time in a zone `hours`:`minutes` east of UTC (negative: west)."""
    sign = "-" if hours < 0 else "%2B"
    local = moment + timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(hours):02d}:{minutes:02d}"


@pytest.mark.parametrize("hours", [15, -15])
def test_offsets_up_to_1559_are_compared_in_utc(api, existing, hours):
    # A minute from now, written ±15:59 away from UTC: every record is before it.
    soon = in_zone(timezone.now() + timedelta(minutes=1), hours, 59)
    assert len(api.get(f"/api/v1/logs/?since={soon}").json()["results"]) == 0
    assert len(api.get(f"/api/v1/logs/?until={soon}").json()["results"]) == 1
    assert len(api.get(f"/api/v1/executions/?started_after={soon}").json()["results"]) == 0
    assert len(api.get(f"/api/v1/executions/?started_before={soon}").json()["results"]) == 1
    assert api.get(f"{URL}?type=logs&start_time={soon}").json()["data"] == []
    assert len(api.get(f"{URL}?type=logs&end_time={soon}").json()["data"]) == 1


def cursor(query):
    return b64encode(query.encode()).decode()


@pytest.mark.parametrize("value", [
    "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # p=9999999999999999999999: the cursor of the report
    cursor("p=garbage"),
    cursor("p="),
    cursor("p=2026-02-30 00:00:00%2B00:00"),
    cursor("p=0001-01-01 00:00:00%2B01:00"),
    cursor("p=9999-12-31 23:59:59-01:00"),
    cursor("p=2026-01-01 00:00:00%2B24:00"),
    cursor("o=abc&p=2026-01-01 00:00:00%2B00:00"),
    cursor("r=yes&p=2026-01-01 00:00:00%2B00:00"),
    "not base64!",
    "garbage",
])
def test_crafted_cursors(api, unchanged, value):
    r = api.get("/api/v1/logs/", {"cursor": value})
    body = drf_rejected(r, "Invalid cursor")
    assert list(body) == ["cursor", "request_id"]


def test_the_cursors_the_api_hands_out_still_page(api, existing):
    for i in range(5):
        api.post(f"{URL}?type=log", {**LOG, "message": f"m{i}", "timestamp": (timezone.now() - timedelta(minutes=5 - i)).isoformat()},
                 format="json")
    first = api.get("/api/v1/logs/?limit=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    messages = [row["message"] for page in (first, second, third) for row in page["results"]]
    assert messages == [LOG["message"], "m4", "m3", "m2", "m1", "m0"] and third["next"] is None
    assert api.get(second["previous"]).json()["results"] == first["results"]
    # A position in another zone is compared in UTC, not passed to the database as written.
    assert api.get("/api/v1/logs/", {"cursor": cursor("p=2999-01-01 17:00:00%2B17:00")}).status_code == 200


def many_parameters(n):
    return "&".join(f"p{i}=1" for i in range(n))


@pytest.mark.parametrize("n", [1_001, 10_000])
def test_too_many_query_parameters(api, unchanged, n):
    # Django allows 1,000 (DATA_UPLOAD_MAX_NUMBER_FIELDS); over it, its own answer was an HTML 400.
    for r in (api.get(f"{URL}?type=logs&{many_parameters(n)}"),
              api.post(f"{URL}?type=log&{many_parameters(n)}", LOG, format="json"),
              api.get(f"/api/v1/logs/?{many_parameters(n)}"),
              api.post(f"/api/v1/logs/?{many_parameters(n)}", LOG, format="json")):
        json_rejected(r, "Too many query parameters")


def send_raw(server, method, path, token, body=None):
    """One request on its own connection: (status, content type, body), or None for no answer at all."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return None
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_too_many_query_parameters_through_the_real_server(team):
    """10,000 parameters make a request line longer than Daphne reads (16 KB): it dropped the
    connection without a word. 1,001 reach Django, which answered with an HTML page."""
    from django.db import connection

    from daphne_server import DaphneServer, database_url
    from monitoring.models import ServiceToken

    token = ServiceToken.issue(team, "ci")[1]
    with DaphneServer(env={"DATABASE_URL": database_url(connection.settings_dict)}) as server:
        requests = [(n, method, path) for n in (1_001, 10_000) for method, path in
                    (("GET", f"{URL}?type=logs&"), ("GET", "/api/v1/logs/?"))]
        # A POST whose request line the server refuses unread cannot send its body (broken pipe) on
        # any server; with 1,001 parameters the line is short enough to be read.
        requests += [(1_001, "POST", f"{URL}?type=log&"), (1_001, "POST", "/api/v1/logs/?")]
        for n, method, path in requests:
            status, mentions = (400, "Too many query parameters") if n == 1_001 else (414, "query parameters")
            answer = send_raw(server, method, path + many_parameters(n), token, json.dumps(LOG) if method == "POST" else None)
            assert answer is not None, f"{n} parameters, {method} {path}: the connection was dropped"
            assert answer[0] == status and answer[1].startswith("application/json"), (n, method, path, answer)
            assert mentions in json.loads(answer[2])["error"]
        assert send_raw(server, "GET", f"{URL}?type=logs&{many_parameters(999)}", token)[0] == 200
    assert not ExecutionLog.objects.exists() and not Workflow.objects.exists()
