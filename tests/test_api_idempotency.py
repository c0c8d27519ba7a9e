"""Idempotency-Key: a retry returns the first answer and writes nothing twice."""

import threading

import pytest
from django.db import connection

from monitoring.models import ExecutionLog, IdempotencyKey, PerformanceMetric, ServiceToken

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m"}


def test_retry_replays_first_answer_and_writes_once(api):
    first = api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert ExecutionLog.objects.count() == 1


def test_same_key_with_a_different_request_is_422(api):
    api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    r = api.post(f"{URL}?type=log", {**LOG, "message": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert r.status_code == 422 and r.json()["success"] is False
    assert ExecutionLog.objects.count() == 1


def test_keys_belong_to_one_token(api, team, client_for):
    other = client_for(ServiceToken.issue(team, "second")[1])
    api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    r = other.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert r.status_code == 201 and not r.has_header("Idempotent-Replayed")
    assert ExecutionLog.objects.count() == 2


def test_batch_retry_writes_nothing_twice(api):
    body = {"logs": [LOG] * 5, "errors": [{"workflow_id": "wf-1", "execution_id": "e1", "error_message": "x"}]}
    first = api.post(f"{URL}?type=batch", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    second = api.post(f"{URL}?type=batch", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == 201, first.content
    assert first.json()["data"]["ids"] == second.json()["data"]["ids"]
    assert ExecutionLog.objects.count() == 5


def test_rejected_request_is_not_remembered(api):
    bad = api.post(f"{URL}?type=log", {**LOG, "log_level": "verbose"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    fixed = api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert fixed.status_code == 201 and ExecutionLog.objects.count() == 1


def test_resource_api_posts_are_idempotent_too(api):
    for _ in range(2):
        r = api.post("/api/v1/logs/", LOG, format="json", HTTP_IDEMPOTENCY_KEY="v1-key")
        assert r.status_code == 201
    assert ExecutionLog.objects.count() == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 300])
def test_bad_keys_are_400(api, key):
    r = api.post(f"{URL}?type=log", LOG, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]
    assert not ExecutionLog.objects.exists()


def test_performance_is_one_per_execution(api):
    body = {"workflow_id": "wf-1", "execution_id": "e1", "total_duration": 100}
    first = api.post(f"{URL}?type=performance", body, format="json").json()["data"]
    second = api.post(f"{URL}?type=performance", {**body, "total_duration": 200}, format="json").json()["data"]
    assert first["id"] == second["id"]
    assert PerformanceMetric.objects.get().total_duration == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_write_once(team, client_for):
    raw = ServiceToken.issue(team, "race")[1]
    results = []

    def send():
        try:
            r = client_for(raw).post(f"{URL}?type=batch", {"logs": [LOG] * 50}, format="json",
                                     HTTP_IDEMPOTENCY_KEY="race-key")
            results.append((r.status_code, r.json()["data"]["ids"]["logs"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [201] * 4
    assert len({tuple(ids) for _, ids in results}) == 1
    assert ExecutionLog.objects.count() == 50
