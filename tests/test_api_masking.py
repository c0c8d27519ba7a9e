"""Secrets are masked before storage: in metadata at any depth, and inside free text."""

import pytest
from django.test import override_settings

from monitoring.masking import MASK
from monitoring.models import Alert, ExecutionLog, WorkflowError

URL = "/api/workflows/monitoring"
BASE = {"workflow_id": "wf-1", "execution_id": "e1"}


def test_metadata_keys_are_masked_at_any_depth(api):
    metadata = {
        "Password": "hunter2", "api_key": "k-123", "nested": {"X-Api-Key": "k-456", "list": [{"access_token": "t"}]},
        "Authorization": "Bearer abc", "cookie": "session=1", "client_secret": "s", "records": 1000,
        "endpoint": "/api/data",
    }
    r = api.post(f"{URL}?type=log", {**BASE, "log_level": "info", "message": "m", "metadata": metadata}, format="json")
    stored = ExecutionLog.objects.get(pk=r.json()["data"]["id"]).metadata
    assert stored["Password"] == stored["api_key"] == stored["Authorization"] == stored["cookie"] == MASK
    assert stored["client_secret"] == MASK
    assert stored["nested"]["X-Api-Key"] == MASK and stored["nested"]["list"][0]["access_token"] == MASK
    assert stored["records"] == 1000 and stored["endpoint"] == "/api/data"
    assert "hunter2" not in r.content.decode()


@pytest.mark.parametrize("text, secret", [
    ("call failed with Authorization: Bearer abcdef1234567890", "abcdef1234567890"),
    ("retry using bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9"),
    ("GET /login?user=bob&password=hunter2&x=1", "hunter2"),
    ('config {"api_key": "sk-live-999"} rejected', "sk-live-999"),
    ("token ft_abcdefghijklmnopqrstuvwxyz012345 leaked", "ft_abcdefghijklmnopqrstuvwxyz012345"),
    ("Cookie: sessionid=abc123; csrftoken=def", "abc123"),
])
def test_credentials_in_text_are_masked_everywhere(api, text, secret):
    api.post(f"{URL}?type=log", {**BASE, "log_level": "error", "message": text}, format="json")
    api.post(f"{URL}?type=error", {**BASE, "error_message": text, "error_stack": f"Error: {text}\n  at x"}, format="json")
    api.post(f"{URL}?type=alert", {"workflow_id": "wf-1", "alert_type": "error", "severity": "warning",
                                   "title": "t", "description": text}, format="json")
    log, error, alert = ExecutionLog.objects.get(), WorkflowError.objects.get(), Alert.objects.get()
    for stored in (log.message, error.error_message, error.error_stack, alert.description):
        assert secret not in stored and MASK in stored


def test_ordinary_text_is_untouched(api):
    text = "Processed 1000 records for token-bucket limiter in 3.2 s"
    r = api.post(f"{URL}?type=log", {**BASE, "log_level": "info", "message": text}, format="json")
    assert ExecutionLog.objects.get(pk=r.json()["data"]["id"]).message == text


@override_settings(FLOWTOWER_MASK_KEYS=["iban"])
def test_mask_keys_are_configurable(api):
    r = api.post(f"{URL}?type=log", {**BASE, "log_level": "info", "message": "m",
                                     "metadata": {"customer_iban": "DE89370400440532013000", "password": "kept"}},
                 format="json")
    stored = ExecutionLog.objects.get(pk=r.json()["data"]["id"]).metadata
    assert stored == {"customer_iban": MASK, "password": "kept"}
