"""Secrets are masked before anything is stored: metadata under sensitive keys at any depth, and
credentials inside free text. Checked on the database rows themselves, not only the responses, and
for every way in (each record type, batches, /api/v1/)."""

import json

import pytest
from django.test import override_settings

from monitoring import events
from monitoring.masking import MASK
from monitoring.models import Alert, ExecutionLog, IdempotencyKey, PerformanceMetric, WorkflowError

URL = "/api/workflows/monitoring"
BASE = {"workflow_id": "wf-001", "execution_id": "exec-123"}
LOG = {**BASE, "log_level": "info", "message": "Processing step completed"}
ERROR = {**BASE, "error_type": "network", "error_message": "Connection timeout", "severity": "high"}
PERF = {**BASE, "total_duration": 45000}
ALERT = {"workflow_id": "wf-001", "alert_type": "performance", "severity": "warning", "title": "High Execution Time"}
BODIES = {"log": LOG, "error": ERROR, "performance": PERF, "alert": ALERT}
MODELS = {"log": ExecutionLog, "error": WorkflowError, "performance": PerformanceMetric, "alert": Alert}

SECRETS = ["hunter2", "s3cr3t-value", "tok-123456", "AKIA-key-999", "Bearer abcdefghijklmnop", "sessionid=xyz789",
           "Basic dXNlcjpwYXNz", "pk-live-42", "cred-0001"]
METADATA = {
    "password": "hunter2",
    "Client_Secret": "s3cr3t-value",
    "ACCESS_TOKEN": "tok-123456",
    "api_key": "AKIA-key-999",
    "Authorization": "Bearer abcdefghijklmnop",
    "Cookie": "sessionid=xyz789",
    "headers": {
        "X-Api-Key": "AKIA-key-999",
        "proxy-authorization": "Basic dXNlcjpwYXNz",
        "Content-Type": "application/json",
    },
    "steps": [
        {"name": "login", "Passwd": "hunter2"},
        [{"private_key": "pk-live-42"}, {"count": 3}],
        "plain string",
    ],
    "credentials": {"user": "bob", "pass": "cred-0001"},
    "records_processed": 1000,
    "memory_used": 64000000,
    "endpoint": "/api/data",
    "ok": True,
    "ratio": 0.5,
    "nothing": None,
}
MASKED = {
    "password": MASK,
    "Client_Secret": MASK,
    "ACCESS_TOKEN": MASK,
    "api_key": MASK,
    "Authorization": MASK,
    "Cookie": MASK,
    "headers": {"X-Api-Key": MASK, "proxy-authorization": MASK, "Content-Type": "application/json"},
    "steps": [{"name": "login", "Passwd": MASK}, [{"private_key": MASK}, {"count": 3}], "plain string"],
    "credentials": MASK,
    "records_processed": 1000,
    "memory_used": 64000000,
    "endpoint": "/api/data",
    "ok": True,
    "ratio": 0.5,
    "nothing": None,
}


def stored_metadata(kind, pk):
    return MODELS[kind].objects.get(pk=pk).metadata


def no_secret_in(text):
    for secret in SECRETS:
        assert secret not in text, secret


@pytest.mark.parametrize("kind", ["log", "error", "performance", "alert"])
def test_sensitive_metadata_keys_are_masked_before_storage(api, kind):
    r = api.post(f"{URL}?type={kind}", {**BODIES[kind], "metadata": METADATA}, format="json")
    assert r.status_code == 201, r.content
    data = r.json()["data"]
    assert stored_metadata(kind, data["id"]) == MASKED
    assert data["metadata"] == MASKED
    no_secret_in(r.content.decode())


def test_masked_in_a_batch(api):
    body = {"logs": [{**LOG, "metadata": METADATA}] * 2, "errors": [{**ERROR, "metadata": METADATA}],
            "performance": [{**PERF, "metadata": METADATA}], "alerts": [{**ALERT, "metadata": METADATA}]}
    r = api.post(f"{URL}?type=batch", body, format="json")
    assert r.status_code == 201, r.content
    for model in MODELS.values():
        rows = list(model.objects.values_list("metadata", flat=True))
        assert rows and all(m == MASKED for m in rows)


@pytest.mark.parametrize("path, kind", [("/api/v1/logs/", "log"), ("/api/v1/errors/", "error"),
                                        ("/api/v1/performance/", "performance"), ("/api/v1/alerts/", "alert")])
def test_masked_on_the_resource_api(api, path, kind):
    r = api.post(path, {**BODIES[kind], "metadata": METADATA}, format="json")
    assert r.status_code == 201, r.content
    assert stored_metadata(kind, r.json()["id"]) == MASKED


def test_what_is_read_back_and_replayed_is_masked(api):
    r = api.post(f"{URL}?type=log", {**LOG, "metadata": METADATA}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert r.status_code == 201
    no_secret_in(json.dumps(IdempotencyKey.objects.get().response))
    no_secret_in(api.post(f"{URL}?type=log", {**LOG, "metadata": METADATA}, format="json",
                          HTTP_IDEMPOTENCY_KEY="k").content.decode())
    no_secret_in(api.get(f"{URL}?type=logs&workflow_id=wf-001").content.decode())
    no_secret_in(api.get(f"{URL}?type=live-status&workflow_id=wf-001").content.decode())
    no_secret_in(api.get(f"{URL}?type=dashboard").content.decode())
    no_secret_in(api.get("/api/v1/logs/").content.decode())


def test_published_events_carry_masked_data(api, django_capture_on_commit_callbacks):
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    events.monitoring_event.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"{URL}?type=log", {**LOG, "message": "login with password=hunter2", "metadata": METADATA},
                     format="json")
    finally:
        events.monitoring_event.disconnect(receiver)
    assert {e.type for e in seen} == {"log", "execution"}
    no_secret_in(json.dumps([e.data for e in seen], default=str))


def test_empty_values_under_sensitive_keys_are_left_as_they_are(api):
    r = api.post(f"{URL}?type=log", {**LOG, "metadata": {"password": "", "token": None, "api_key": 0}}, format="json")
    # Nothing to hide in an empty value; a present one, of any type, is hidden.
    assert stored_metadata("log", r.json()["data"]["id"]) == {"password": "", "token": None, "api_key": MASK}


# --- credentials in free text ---------------------------------------------------------------------------------------
TEXTS = [
    # (text, the secret that must go, what the stored text must be)
    ("call failed with Authorization: Bearer abcdef1234567890", "abcdef1234567890",
     "call failed with Authorization: ********"),
    ("upstream said authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "upstream said authorization=********"),
    ("retrying with bearer abcdef1234567890 in 5 s", "abcdef1234567890", "retrying with bearer ******** in 5 s"),
    ("retry using bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0",
     "retry using bearer ********"),
    ("GET /login?user=bob&password=hunter2&x=1", "hunter2", "GET /login?user=bob&password=********&x=1"),
    ("db url password: hunter2, host: db", "hunter2", "db url password: ********, host: db"),
    ('config {"api_key": "sk-live-999", "region": "eu"} rejected', "sk-live-999",
     'config {"api_key": "********", "region": "eu"} rejected'),
    ("client_secret=abc.def-ghi sent", "abc.def-ghi", "client_secret=******** sent"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl expired", "eyJhbGciOiJIUzI1NiJ9",
     "jwt ******** expired"),
    ("token ft_abcdefghijklmnopqrstuvwxyz012345 leaked", "ft_abcdefghijklmnopqrstuvwxyz012345", "token ******** leaked"),
    ("Cookie: sessionid=abc123; csrftoken=def", "abc123", "Cookie: ********"),
]


@pytest.mark.parametrize("text, secret, expected", TEXTS)
def test_credentials_in_text_are_masked_in_every_text_field(api, text, secret, expected):
    log = api.post(f"{URL}?type=log", {**LOG, "message": text}, format="json").json()["data"]
    error = api.post(f"{URL}?type=error", {**ERROR, "error_message": text,
                                           "error_stack": f"Error: {text}\n    at request (client.ts:42:7)"},
                     format="json").json()["data"]
    alert = api.post(f"{URL}?type=alert", {**ALERT, "description": text}, format="json").json()["data"]

    log_row = ExecutionLog.objects.get(pk=log["id"])
    error_row = WorkflowError.objects.get(pk=error["id"])
    alert_row = Alert.objects.get(pk=alert["id"])
    assert log_row.message == expected
    assert error_row.error_message == expected
    assert error_row.error_stack == f"Error: {expected}\n    at request (client.ts:42:7)"
    assert alert_row.description == expected
    for value in (log["message"], error["error_message"], error["error_stack"], alert["description"]):
        assert secret not in value


def test_an_alert_title_is_masked_and_still_fits(api):
    title = "password=a " * 23  # 253 characters; masked, longer than the 255 the column holds
    assert len(title) <= 255
    r = api.post(f"{URL}?type=alert", {**ALERT, "title": title}, format="json")
    assert r.status_code == 201, r.content
    stored = Alert.objects.get(pk=r.json()["data"]["id"]).title
    assert len(stored) <= 255 and stored.startswith("password=******** password=********")
    assert "=a " not in stored


def test_batch_texts_are_masked(api):
    text = "login with password=hunter2 failed"
    api.post(f"{URL}?type=batch", {"logs": [{**LOG, "message": text}], "errors": [{**ERROR, "error_message": text}],
                                   "alerts": [{**ALERT, "description": text}]}, format="json")
    assert ExecutionLog.objects.get().message == "login with password=******** failed"
    assert WorkflowError.objects.get().error_message == "login with password=******** failed"
    assert Alert.objects.get().description == "login with password=******** failed"


@pytest.mark.parametrize("text", [
    "Processed 1000 records for token-bucket limiter in 3.2 s",
    "basic setup complete",
    "password reset email sent to bob@example.com",
    "Authorization header missing",
    "Bearer token expired",
    "Connection timeout to external API after 30000 ms",
    "secret santa workflow finished",
    "GET /api/data?page=2&limit=50",
])
def test_ordinary_text_is_untouched(api, text):
    r = api.post(f"{URL}?type=log", {**LOG, "message": text}, format="json")
    assert ExecutionLog.objects.get(pk=r.json()["data"]["id"]).message == text
    r = api.post(f"{URL}?type=alert", {**ALERT, "title": text, "description": text}, format="json")
    row = Alert.objects.get(pk=r.json()["data"]["id"])
    assert (row.title, row.description) == (text, text)


def test_non_secret_fields_are_untouched(api):
    body = {**LOG, "node_name": "Token Refresher", "node_id": "node-password-reset", "workflow_name": "Secrets sync",
            "metadata": {"node": "Auth", "authored_by": "bob", "records": [1, 2, 3]}}
    data = api.post(f"{URL}?type=log", body, format="json").json()["data"]
    row = ExecutionLog.objects.get(pk=data["id"])
    assert (row.node_name, row.node_id) == ("Token Refresher", "node-password-reset")
    assert row.workflow.name == "Secrets sync"
    assert row.metadata == {"node": "Auth", "authored_by": "bob", "records": [1, 2, 3]}


# --- the key list is a setting --------------------------------------------------------------------------------------
@override_settings(FLOWTOWER_MASK_KEYS=["iban", "ssn"])
def test_mask_keys_setting_replaces_the_list(api):
    r = api.post(f"{URL}?type=log", {**LOG, "metadata": {"customer_IBAN": "DE89370400440532013000",
                                                         "nested": [{"SSN": "078-05-1120"}], "password": "kept"}},
                 format="json")
    assert stored_metadata("log", r.json()["data"]["id"]) == {
        "customer_IBAN": MASK, "nested": [{"SSN": MASK}], "password": "kept"}


def test_mask_keys_setting_change_takes_effect_at_once(api, settings):
    first = api.post(f"{URL}?type=log", {**LOG, "metadata": {"iban": "DE89"}}, format="json").json()["data"]["id"]
    settings.FLOWTOWER_MASK_KEYS = [*settings.FLOWTOWER_MASK_KEYS, "iban"]
    second = api.post(f"{URL}?type=log", {**LOG, "metadata": {"iban": "DE89"}}, format="json").json()["data"]["id"]
    assert stored_metadata("log", first) == {"iban": "DE89"}
    assert stored_metadata("log", second) == {"iban": MASK}
