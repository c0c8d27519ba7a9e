"""README, "Idempotent retries": keys are remembered for FLOWTOWER_IDEMPOTENCY_TTL_HOURS. A retry
within that time replays the first answer; after it the key is forgotten, so the request is new
(a service reusing keys from a small pool must not get a day-old answer), and retention removes
expired keys from the database."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from monitoring import retention
from monitoring.models import ExecutionLog, IdempotencyKey, ServiceToken
from monitoring.tasks import prune_old_data

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m"}
TTL_HOURS = 24  # the documented default


def post(api, body=LOG, key="k-1"):
    return api.post(f"{URL}?type=log", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def age_keys(by):
    IdempotencyKey.objects.update(created_at=timezone.now() - by)


def test_default_ttl_is_24_hours(settings):
    assert settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS == TTL_HOURS


def test_key_just_under_the_ttl_replays(api):
    assert post(api).status_code == 201
    age_keys(timedelta(hours=TTL_HOURS) - timedelta(minutes=1))
    retry = post(api)
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert ExecutionLog.objects.count() == 1


def test_key_just_over_the_ttl_is_a_new_request(api):
    first = post(api)
    age_keys(timedelta(hours=TTL_HOURS) + timedelta(minutes=1))
    again = post(api)
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert ExecutionLog.objects.count() == 2
    # The key now remembers the new answer, for another full TTL.
    replay = post(api)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == again.json()
    assert ExecutionLog.objects.count() == 2


def test_expired_key_with_a_different_request_is_not_422(api):
    post(api)
    age_keys(timedelta(hours=TTL_HOURS, minutes=1))
    r = post(api, {**LOG, "message": "another"})
    assert r.status_code == 201, r.content
    assert sorted(ExecutionLog.objects.values_list("message", flat=True)) == ["another", "m"]


@override_settings(FLOWTOWER_IDEMPOTENCY_TTL_HOURS=2)
def test_the_ttl_comes_from_the_setting(api):
    post(api, key="a")
    age_keys(timedelta(hours=1, minutes=59))
    assert post(api, key="a")["Idempotent-Replayed"] == "true"
    age_keys(timedelta(hours=2, minutes=1))
    assert not post(api, key="a").has_header("Idempotent-Replayed")
    assert ExecutionLog.objects.count() == 2


def test_resource_api_forgets_expired_keys_too(api):
    assert api.post("/api/v1/logs/", LOG, format="json", HTTP_IDEMPOTENCY_KEY="v1").status_code == 201
    age_keys(timedelta(hours=TTL_HOURS, minutes=1))
    r = api.post("/api/v1/logs/", LOG, format="json", HTTP_IDEMPOTENCY_KEY="v1")
    assert r.status_code == 201 and not r.has_header("Idempotent-Replayed")
    assert ExecutionLog.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_an_expired_key_write_once(team, client_for):
    raw = ServiceToken.issue(team, "race")[1]
    client_for(raw).post(f"{URL}?type=batch", {"logs": [LOG] * 5}, format="json", HTTP_IDEMPOTENCY_KEY="race")
    age_keys(timedelta(hours=TTL_HOURS, minutes=1))
    results = []

    def send():
        try:
            r = client_for(raw).post(f"{URL}?type=batch", {"logs": [LOG] * 20}, format="json",
                                     HTTP_IDEMPOTENCY_KEY="race")
            results.append((r.status_code, tuple(r.json()["data"]["ids"]["logs"])))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [201] * 4
    assert len({ids for _, ids in results}) == 1  # one new answer, replayed to the others
    assert ExecutionLog.objects.count() == 5 + 20


def keys_aged(api, *ages):
    for n, age in enumerate(ages):
        post(api, {**LOG, "message": f"m{n}"}, key=f"k-{n}")
        IdempotencyKey.objects.filter(key=f"k-{n}").update(created_at=timezone.now() - age)


@pytest.mark.parametrize("prune", [lambda: retention.prune(trigger="test"), lambda: prune_old_data.delay()],
                         ids=["prune", "beat-task"])
def test_retention_removes_expired_keys_and_keeps_live_ones(api, prune):
    keys_aged(api, timedelta(hours=TTL_HOURS, minutes=1), timedelta(hours=TTL_HOURS, minutes=-1), timedelta(0))
    prune()
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-1", "k-2"]


def test_a_dry_run_keeps_expired_keys(api):
    keys_aged(api, timedelta(hours=TTL_HOURS, minutes=1))
    retention.prune(dry_run=True)
    assert IdempotencyKey.objects.count() == 1
