"""Deduplication of alerts: one open alert per team and fingerprint, whatever path the alert takes
(the monitoring endpoint, /api/v1/alerts/, a batch, services.raise_alert) and however many
workers report it at once; and another team never sees a team's alerts, those of no workflow
included."""

import hashlib
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring import events, services
from monitoring.models import Alert, AlertSource, ServiceToken

URL = "/api/workflows/monitoring"
ALERT = {"workflow_id": "wf-1", "alert_type": "error", "severity": "warning", "title": "Order sync failing"}


def post_alert(api, body, status=None):
    r = api.post(f"{URL}?type=alert", body, format="json")
    if status is not None:
        assert r.status_code == status, r.content
    return r


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """published(fn) runs fn and returns the alert events sent after its commit: (action, alert id)."""
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    def run(fn):
        seen.clear()
        with django_capture_on_commit_callbacks(execute=True):
            result = fn()
        return result, [(e.action, e.data["id"]) for e in seen if e.type == "alert"]

    events.monitoring_event.connect(receiver)
    yield run
    events.monitoring_event.disconnect(receiver)


def iso(when):
    return when.isoformat()


# --- the same alert posted twice ---------------------------------------------------------------------------
def test_reposting_an_open_alert_counts_it_instead_of_adding_one(api, published):
    first_at, then_at = timezone.now() - timedelta(minutes=10), timezone.now() - timedelta(minutes=1)
    r, created = published(lambda: post_alert(api, {**ALERT, "timestamp": iso(first_at)}, 201))
    first = r.json()["data"]
    assert first["occurrences"] == 1 and first["status"] == "firing" and first["source"] == "posted"
    assert created == [("created", first["id"])]

    r, updated = published(lambda: post_alert(api, {**ALERT, "severity": "critical", "timestamp": iso(then_at)}, 200))
    again = r.json()["data"]
    # The same alert, counted: its id, two occurrences, last seen at the repeat, first seen unchanged.
    assert again["id"] == first["id"] and again["occurrences"] == 2
    assert again["first_seen_at"] == first["first_seen_at"] == first["timestamp"]
    assert again["last_seen_at"] > first["last_seen_at"]
    assert again["severity"] == "critical"  # the newest report's wording wins
    assert updated == [("updated", first["id"])]
    stored = Alert.objects.get()
    assert stored.occurrences == 2 and stored.last_seen_at == then_at and stored.timestamp == first_at


def test_the_default_fingerprint_is_documented_sha1_of_workflow_type_and_title(api):
    data = post_alert(api, ALERT, 201).json()["data"]
    expected = hashlib.sha1("wf-1\0error\0Order sync failing".encode()).hexdigest()
    assert data["fingerprint"] == expected


def test_another_title_is_another_alert(api):
    one = post_alert(api, ALERT, 201).json()["data"]
    two = post_alert(api, {**ALERT, "title": "Invoice fetch failing"}, 201).json()["data"]
    three = post_alert(api, {**ALERT, "workflow_id": "wf-2"}, 201).json()["data"]
    assert len({one["id"], two["id"], three["id"]}) == 3 and Alert.objects.count() == 3


def test_an_explicit_fingerprint_makes_changing_titles_one_alert(api):
    one = post_alert(api, {**ALERT, "title": "Queue at 501 items", "fingerprint": "queue-backlog"}, 201).json()["data"]
    two = post_alert(api, {**ALERT, "title": "Queue at 502 items", "fingerprint": "queue-backlog"}, 200).json()["data"]
    assert two["id"] == one["id"] and two["occurrences"] == 2 and two["title"] == "Queue at 502 items"
    assert two["fingerprint"] == "queue-backlog"
    # The same title without that fingerprint is another alert.
    post_alert(api, {**ALERT, "title": "Queue at 502 items"}, 201)
    assert Alert.objects.count() == 2


def test_after_resolving_the_next_post_is_a_new_alert(api):
    first = post_alert(api, ALERT, 201).json()["data"]
    r = api.patch(f"{URL}?type=alert&id={first['id']}", {"resolved": True}, format="json")
    assert r.status_code == 200 and r.json()["data"]["status"] == "resolved"
    second = post_alert(api, ALERT, 201).json()["data"]
    assert second["id"] != first["id"] and second["occurrences"] == 1 and second["status"] == "firing"
    assert Alert.objects.get(pk=first["id"]).occurrences == 1


def test_the_resource_api_deduplicates_the_same_way(api):
    first = api.post("/api/v1/alerts/", ALERT, format="json")
    assert first.status_code == 201, first.content
    again = api.post("/api/v1/alerts/", ALERT, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["occurrences"] == 2
    # And across both APIs: they are one alert.
    assert post_alert(api, ALERT, 200).json()["data"]["occurrences"] == 3


def test_a_batch_counts_repeats_and_names_the_alert_for_each_item(api, published):
    body = {"alerts": [ALERT, {**ALERT, "title": "other"}, ALERT]}
    r, sent = published(lambda: api.post(f"{URL}?type=batch", body, format="json"))
    assert r.status_code == 201, r.content
    ids = r.json()["data"]["ids"]["alerts"]
    assert ids[0] == ids[2] != ids[1] and r.json()["data"]["created"]["alerts"] == 3
    assert Alert.objects.get(pk=ids[0]).occurrences == 2
    # One event per alert, as it stands after the batch.
    assert sorted(sent) == sorted([("created", ids[0]), ("created", ids[1])])

    r, sent = published(lambda: api.post(f"{URL}?type=batch", {"alerts": [ALERT]}, format="json"))
    assert r.json()["data"]["ids"]["alerts"] == [ids[0]] and sent == [("updated", ids[0])]
    assert Alert.objects.get(pk=ids[0]).occurrences == 3


def test_an_idempotent_retry_does_not_count_the_alert_again(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "alert-1"}
    first = api.post(f"{URL}?type=alert", ALERT, format="json", **headers)
    retry = api.post(f"{URL}?type=alert", ALERT, format="json", **headers)
    assert first.status_code == retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert Alert.objects.get().occurrences == 1


@pytest.mark.parametrize("fingerprint, message", [
    ("x" * 129, "no more than 128"),
    ("   ", "must not be blank"),
    ("", "may not be blank"),
    ("rule:1:wf:2", "must not start with rule:, am: or n8n-sync:"),
    ("am:abc", "must not start with rule:, am: or n8n-sync:"),
    ("n8n-sync:3", "must not start with rule:, am: or n8n-sync:"),
    (["queue"], "Not a valid string"),
])
def test_a_bad_fingerprint_is_a_400_naming_it(api, fingerprint, message):
    r = post_alert(api, {**ALERT, "fingerprint": fingerprint}, 400)
    assert message in str(r.json()["details"]["fingerprint"]) and not Alert.objects.exists()


def test_raise_alert_counts_repeats_and_publishes_created_then_updated(team, published):
    def raise_it(at=None):
        return services.raise_alert(team, fingerprint="am:db-down", alert_type="resource", severity="critical",
                                    title="Database down", source=AlertSource.ALERTMANAGER, labels={"job": "db"},
                                    at=at)

    (alert, created), sent = published(raise_it)
    assert created and alert.workflow is None and sent == [("created", str(alert.pk))]
    later = timezone.now() + timedelta(seconds=30)
    (again, created), sent = published(lambda: raise_it(later))
    assert not created and again.pk == alert.pk and again.occurrences == 2 and again.last_seen_at == later
    assert sent == [("updated", str(alert.pk))]


# --- at the same moment, on real PostgreSQL connections ----------------------------------------------------
def at_once(n, fn):
    """Run fn(i) in n threads released together, each on its own database connection."""
    start = threading.Barrier(n)
    results, failures = [None] * n, []

    def run(i):
        try:
            start.wait(timeout=10)
            results[i] = fn(i)
        except Exception as exc:  # reported below, with the thread's error
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_raise_alert_makes_exactly_one_open_alert(team):
    def raise_it(i):
        return services.raise_alert(team, fingerprint="rule:1:team", alert_type="error", severity="warning",
                                    title=f"report {i}", source=AlertSource.RULE)[1]

    created = at_once(8, raise_it)
    assert created.count(True) == 1
    alert = Alert.objects.get()
    assert not alert.resolved and alert.occurrences == 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_alert_make_one_alert(team):
    raw = ServiceToken.issue(team, "race")[1]
    APIClient().get("/login/")  # django-prometheus builds its metrics on the first request, not thread-safely

    def post(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        # Batches naming two alerts in opposite orders: locks are taken in one order, no deadlock.
        other = {**ALERT, "title": "second"}
        body = {"alerts": [ALERT, other] if i % 2 else [other, ALERT]}
        return client.post(f"{URL}?type=batch", body, format="json").status_code

    assert at_once(6, post) == [201] * 6
    assert sorted(Alert.objects.values_list("occurrences", flat=True)) == [6, 6]


# --- another team never sees them ------------------------------------------------------------------------
def test_another_teams_token_never_sees_a_teams_alerts_of_no_workflow(team, other_team, client_for):
    alert, _ = services.raise_alert(team, fingerprint="am:disk-full", alert_type="resource", severity="critical",
                                    title="Disk full on db-1", source=AlertSource.ALERTMANAGER)
    theirs = client_for(ServiceToken.issue(other_team, "theirs")[1])
    assert theirs.get("/api/v1/alerts/").json()["results"] == []
    assert theirs.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert theirs.get("/api/v1/alerts/?team=acme").status_code == 404
    assert theirs.patch(f"/api/v1/alerts/{alert.pk}/", {"acknowledged": True}, format="json").status_code == 404
    assert theirs.get(f"{URL}?type=alerts").json()["data"] == []
    assert theirs.get(f"{URL}?type=alerts&team=acme").status_code == 404
    assert theirs.patch(f"{URL}?type=alert&id={alert.pk}", {"acknowledged": True}, format="json").status_code == 404
    dashboard = theirs.get(f"{URL}?type=dashboard").json()["data"]
    assert dashboard["unresolved_alerts"] == 0 and dashboard["recent_activity"]["alerts"] == []
    alert.refresh_from_db()
    assert not alert.acknowledged
