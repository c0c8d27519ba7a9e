"""Idempotency-Key on POST: a retried request gets the first answer and writes nothing twice; a
key belongs to one principal; a rejected request does not use its key up. And performance records
are one per execution, so a re-sent report never counts twice even without a key."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    IdempotencyKey,
    PerformanceMetric,
    ServiceToken,
    Workflow,
    WorkflowError,
)

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-001", "execution_id": "exec-123", "log_level": "info", "message": "Processing step completed",
       "node_name": "Data Processor", "step_number": 3, "duration": 1500, "metadata": {"records_processed": 1000}}
ERROR = {"workflow_id": "wf-001", "execution_id": "exec-123", "error_type": "network", "severity": "high",
         "error_message": "Connection timeout to external API"}
PERF = {"workflow_id": "wf-001", "execution_id": "exec-123", "total_duration": 45000, "node_count": 6,
        "successful_nodes": 5, "failed_nodes": 1, "cpu_peak": 85.5, "bottleneck_nodes": ["API Node"]}
ALERT = {"workflow_id": "wf-001", "alert_type": "performance", "severity": "warning", "title": "High Execution Time"}
BODIES = {"log": LOG, "error": ERROR, "performance": PERF, "alert": ALERT}
MODELS = {"log": ExecutionLog, "error": WorkflowError, "performance": PerformanceMetric, "alert": Alert}


def counts():
    return {m.__name__: m.objects.count() for m in (Workflow, Execution, *MODELS.values(), IdempotencyKey)}


def send(client, kind, body, key, path=None):
    return client.post(path or f"{URL}?type={kind}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


# --- a retry replays the first answer -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["log", "error", "performance", "alert"])
def test_a_retry_gets_the_same_answer_and_writes_once(api, kind):
    first = send(api, kind, BODIES[kind], "key-1")
    assert first.status_code == 201, first.content
    after_first = counts()
    second = send(api, kind, BODIES[kind], "key-1")
    third = send(api, kind, BODIES[kind], "key-1")
    assert second.status_code == third.status_code == 201
    assert second.json() == third.json() == first.json()
    assert second.json()["data"]["id"] == first.json()["data"]["id"]
    assert second["Idempotent-Replayed"] == "true" and third["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert counts() == after_first
    assert MODELS[kind].objects.count() == 1 and IdempotencyKey.objects.count() == 1


def test_without_a_key_each_post_writes(api):
    # What the key protects against: the same body sent twice is two log lines.
    a = api.post(f"{URL}?type=log", LOG, format="json").json()["data"]["id"]
    b = api.post(f"{URL}?type=log", LOG, format="json").json()["data"]["id"]
    assert a != b and ExecutionLog.objects.count() == 2 and not IdempotencyKey.objects.exists()


def test_a_replay_does_not_move_the_execution_again(api):
    send(api, "log", LOG, "k")
    Execution.objects.update(state="waiting")
    send(api, "log", LOG, "k")  # replayed: not applied a second time
    assert Execution.objects.get().state == "waiting"


def test_the_same_key_with_a_different_body_is_422(api):
    first = send(api, "log", LOG, "key-1")
    before = counts()
    r = send(api, "log", {**LOG, "message": "something else"}, "key-1")
    assert r.status_code == 422
    body = r.json()
    assert body["success"] is False and "Idempotency-Key" in body["error"]
    assert counts() == before
    # The original retry still replays.
    assert send(api, "log", LOG, "key-1").json() == first.json()


def test_the_same_key_for_another_type_is_422(api):
    send(api, "log", LOG, "key-1")
    before = counts()
    assert send(api, "alert", ALERT, "key-1").status_code == 422
    assert counts() == before


def test_key_order_in_the_body_does_not_matter(api):
    first = send(api, "log", LOG, "key-1")
    reordered = dict(reversed(list(LOG.items())))
    second = send(api, "log", reordered, "key-1")
    assert second.status_code == 201 and second.json() == first.json() and ExecutionLog.objects.count() == 1


# --- a key belongs to one principal ---------------------------------------------------------------------
def test_another_token_of_the_team_using_the_same_key_writes_its_own(api, team, client_for):
    other = client_for(ServiceToken.issue(team, "second")[1])
    first = send(api, "log", LOG, "shared")
    second = send(other, "log", LOG, "shared")
    assert second.status_code == 201 and not second.has_header("Idempotent-Replayed")
    assert second.json()["data"]["id"] != first.json()["data"]["id"]
    assert ExecutionLog.objects.count() == 2 and IdempotencyKey.objects.count() == 2


def test_another_teams_token_using_the_same_key_writes_to_its_own_team(api, other_team, client_for):
    globex = client_for(ServiceToken.issue(other_team, "ci")[1])
    first = send(api, "log", LOG, "shared").json()["data"]
    second = send(globex, "log", LOG, "shared").json()["data"]
    assert (first["team"], second["team"]) == ("acme", "globex")
    assert ExecutionLog.objects.get(pk=second["id"]).workflow.team == other_team
    # Nothing of acme's answer leaks to globex, and each one's retry replays its own.
    assert send(globex, "log", LOG, "shared").json()["data"]["id"] == second["id"]
    assert send(api, "log", LOG, "shared").json()["data"]["id"] == first["id"]


def test_a_person_and_a_token_have_separate_keys(api, team, make_user, client_for):
    admin = client_for(make_user("boss", team, "admin"))
    by_token = send(api, "log", LOG, "shared").json()["data"]["id"]
    by_person = send(admin, "log", LOG, "shared")
    assert by_person.status_code == 201 and by_person.json()["data"]["id"] != by_token
    assert send(admin, "log", LOG, "shared").json()["data"]["id"] == by_person.json()["data"]["id"]
    assert ExecutionLog.objects.count() == 2


# --- batches ----------------------------------------------------------------------------------------------
def test_a_batch_retry_writes_nothing_twice(api):
    body = {"logs": [LOG, {**LOG, "message": "second"}, {**LOG, "execution_id": "exec-456"}], "errors": [ERROR],
            "performance": [PERF], "alerts": [ALERT, ALERT]}
    first = send(api, "batch", body, "batch-1")
    assert first.status_code == 201, first.content
    after_first = counts()
    # The batch's two identical alerts are one alert, seen twice (deduplication).
    assert after_first["ExecutionLog"] == 3 and after_first["Execution"] == 2 and after_first["Alert"] == 1
    assert Alert.objects.get().occurrences == 2
    second = send(api, "batch", body, "batch-1")
    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert counts() == after_first
    assert Alert.objects.get().occurrences == 2  # the replay counts nothing again


def test_a_rejected_batch_does_not_use_its_key_up(api):
    bad = {"logs": [LOG, {**LOG, "log_level": "verbose"}]}
    assert send(api, "batch", bad, "batch-2").status_code == 400
    assert not IdempotencyKey.objects.exists() and not ExecutionLog.objects.exists()
    good = {"logs": [LOG, {**LOG, "log_level": "warn"}]}
    r = send(api, "batch", good, "batch-2")
    assert r.status_code == 201 and ExecutionLog.objects.count() == 2
    assert send(api, "batch", good, "batch-2").json() == r.json() and ExecutionLog.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_write_once(team, client_for):
    """Retries sent at the same moment, each on its own database connection: one commits; the key's
    unique constraint stops the others, which replay its answer."""
    raw = ServiceToken.issue(team, "race")[1]
    results = []

    def send_batch():
        try:
            r = client_for(raw).post(f"{URL}?type=batch", {"logs": [LOG] * 50}, format="json",
                                     HTTP_IDEMPOTENCY_KEY="race-key")
            results.append((r.status_code, r.json()["data"]["ids"]["logs"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send_batch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [201] * 4
    assert len({tuple(ids) for _, ids in results}) == 1
    assert ExecutionLog.objects.count() == 50 and IdempotencyKey.objects.count() == 1


# --- rejected requests ---------------------------------------------------------------------------------------
def test_a_rejected_request_does_not_store_its_key(api):
    """A 400 with a key stores nothing: the corrected request, sent with the same key and a different
    body, is treated as new (201, written once); from then on the key belongs to the corrected
    request, so re-sending the rejected body with it is a 422."""
    bad = {**LOG, "log_level": "verbose"}
    r = send(api, "log", bad, "key-2")
    assert r.status_code == 400 and not IdempotencyKey.objects.exists()
    again = send(api, "log", bad, "key-2")
    assert again.status_code == 400 and not again.has_header("Idempotent-Replayed")

    fixed = send(api, "log", LOG, "key-2")
    assert fixed.status_code == 201 and not fixed.has_header("Idempotent-Replayed")
    assert ExecutionLog.objects.count() == 1
    retry = send(api, "log", LOG, "key-2")
    assert retry["Idempotent-Replayed"] == "true" and retry.json() == fixed.json()
    assert send(api, "log", bad, "key-2").status_code == 422
    assert ExecutionLog.objects.count() == 1


def test_a_refused_request_does_not_store_its_key(api, team, make_user, client_for):
    viewer = client_for(make_user("watcher", team, "viewer"))
    assert send(viewer, "log", LOG, "key-3").status_code == 403
    assert not IdempotencyKey.objects.exists() and not ExecutionLog.objects.exists()


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "a\x00b"])
def test_bad_keys_are_400_and_write_nothing(api, key):
    r = send(api, "log", LOG, key)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]
    assert not ExecutionLog.objects.exists() and not IdempotencyKey.objects.exists()


def test_a_key_of_255_characters_is_fine(api):
    key = "k" * 255
    first = send(api, "log", LOG, key)
    assert first.status_code == 201
    assert send(api, "log", LOG, key)["Idempotent-Replayed"] == "true"
    assert ExecutionLog.objects.count() == 1


# --- keys expire ------------------------------------------------------------------------------------------------
def test_keys_older_than_the_ttl_are_pruned_and_then_the_post_is_new(api, make_user, client_for, settings):
    first = send(api, "log", LOG, "old-key").json()["data"]["id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS + 1))
    send(api, "log", LOG, "fresh-key")
    root = client_for(make_user("root", superuser=True))
    assert root.delete(f"{URL}?retention_days=90").status_code == 200
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh-key"]
    again = send(api, "log", LOG, "old-key")
    assert again.status_code == 201 and again.json()["data"]["id"] != first
    assert ExecutionLog.objects.count() == 3


# --- /api/v1/ --------------------------------------------------------------------------------------------------
def test_v1_log_post_with_a_key(api):
    first = send(api, "log", LOG, "v1-key", path="/api/v1/logs/")
    assert first.status_code == 201, first.content
    assert "success" not in first.json()  # the resource API's own shape
    second = send(api, "log", LOG, "v1-key", path="/api/v1/logs/")
    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert ExecutionLog.objects.count() == 1

    other = send(api, "log", {**LOG, "message": "changed"}, "v1-key", path="/api/v1/logs/")
    assert other.status_code == 422 and "success" not in other.json()
    assert ExecutionLog.objects.count() == 1


def test_a_key_used_on_one_endpoint_is_not_replayed_on_the_other(api):
    # The answers differ in shape, so the key is bound to the endpoint it was first used on.
    send(api, "log", LOG, "both")
    r = send(api, "log", LOG, "both", path="/api/v1/logs/")
    assert r.status_code == 422 and ExecutionLog.objects.count() == 1


@pytest.mark.parametrize("path, body", [
    ("/api/v1/errors/", ERROR), ("/api/v1/performance/", PERF), ("/api/v1/alerts/", ALERT),
    ("/api/v1/executions/", {"workflow_id": "wf-001", "execution_id": "exec-9", "state": "running"}),
    ("/api/v1/workflows/", {"workflow_id": "wf-9", "name": "Nine"}),
])
def test_v1_other_posts_with_a_key(api, path, body):
    first = send(api, None, body, "v1", path=path)
    assert first.status_code == 201, first.content
    before = counts()
    second = send(api, None, body, "v1", path=path)
    assert second.status_code == 201 and second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert counts() == before


def test_v1_workflow_create_retry_is_not_a_duplicate_error(api):
    # Without the key the second create is a 400 "already exists"; with it, the first answer.
    body = {"workflow_id": "wf-9"}
    assert send(api, None, body, "wf", path="/api/v1/workflows/").status_code == 201
    assert send(api, None, body, "wf", path="/api/v1/workflows/").status_code == 201
    assert api.post("/api/v1/workflows/", body, format="json").status_code == 400
    assert Workflow.objects.filter(external_id="wf-9").count() == 1


# --- performance: one record per execution -------------------------------------------------------------------
def test_posting_the_same_performance_record_twice_keeps_one_row(api):
    first = api.post(f"{URL}?type=performance", PERF, format="json").json()["data"]
    second = api.post(f"{URL}?type=performance", PERF, format="json").json()["data"]
    assert second["id"] == first["id"]
    assert PerformanceMetric.objects.count() == 1
    assert len(api.get(f"{URL}?type=performance&workflow_id=wf-001").json()["data"]) == 1


def test_a_corrected_performance_record_replaces_the_first(api):
    first = api.post(f"{URL}?type=performance", PERF, format="json").json()["data"]
    corrected = {**PERF, "total_duration": 50000, "cpu_peak": 90.0, "bottleneck_nodes": []}
    del corrected["node_count"]
    second = api.post(f"{URL}?type=performance", corrected, format="json").json()["data"]
    assert second["id"] == first["id"]
    row = PerformanceMetric.objects.get()
    assert (row.total_duration, float(row.cpu_peak), row.bottleneck_nodes, row.node_count) == (50000, 90.0, [], 0)
    assert Execution.objects.get().duration_ms == 50000
    assert api.get(f"{URL}?type=dashboard&workflow_id=wf-001").json()["data"]["average_execution_time"] == 50000


def test_performance_records_of_different_executions_are_separate(api):
    a = api.post(f"{URL}?type=performance", PERF, format="json").json()["data"]["id"]
    b = api.post(f"{URL}?type=performance", {**PERF, "execution_id": "exec-456"}, format="json").json()["data"]["id"]
    c = api.post(f"{URL}?type=performance", {**PERF, "workflow_id": "wf-002"}, format="json").json()["data"]["id"]
    assert len({a, b, c}) == 3 and PerformanceMetric.objects.count() == 3


def test_one_batch_with_two_performance_records_for_one_execution_keeps_the_last(api):
    body = {"performance": [{**PERF, "total_duration": 1000}, {**PERF, "total_duration": 2000},
                            {**PERF, "execution_id": "exec-456"}]}
    data = api.post(f"{URL}?type=batch", body, format="json").json()["data"]
    assert data["created"]["performance"] == 2
    assert PerformanceMetric.objects.count() == 2
    assert PerformanceMetric.objects.get(execution__external_id="exec-123").total_duration == 2000


def test_a_performance_record_sent_again_in_a_batch_keeps_its_id(api):
    first = api.post(f"{URL}?type=performance", PERF, format="json").json()["data"]["id"]
    data = api.post(f"{URL}?type=batch", {"performance": [PERF]}, format="json").json()["data"]
    assert data["ids"]["performance"] == [first] and PerformanceMetric.objects.count() == 1
