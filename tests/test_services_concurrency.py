"""Simultaneous resolves / acknowledgements of one record are serialised: each request runs in its
own thread with its own database connection (as under a real server), and the audit trail records
one entry per real change, with the "before" values of what was really stored."""

import threading

import pytest
from auditlog.models import LogEntry
from django.db import connections
from rest_framework.test import APIClient

from monitoring.ingest import ingest
from monitoring.models import Alert, WorkflowError
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"
CLIENTS = 10

pytestmark = pytest.mark.django_db(transaction=True)


def make_error_and_alert(team):
    raw = {
        "error": [{"workflow_id": "wf-1", "execution_id": "e1", "error_message": "boom", "severity": "high"}],
        "alert": [{"workflow_id": "wf-1", "alert_type": "error", "severity": "critical", "title": "down"}],
    }
    result = ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()})
    return result.created["error"][0], result.created["alert"][0]


def patch_at_once(token, requests):
    """Send every (url, body) PATCH at the same moment, one thread and DB connection each;
    returns the responses in the order given."""
    # One request first: django-prometheus creates its metrics on the first middleware load of the
    # process, not thread-safely (a server loads middleware once, before serving).
    APIClient().get("/login/")
    start = threading.Barrier(len(requests))
    responses = [None] * len(requests)

    def send(i, url, body):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            start.wait(timeout=10)
            responses[i] = client.patch(url, body, format="json")
        finally:
            connections.close_all()  # this thread's connection, so the test database can be flushed

    threads = [threading.Thread(target=send, args=(i, url, body)) for i, (url, body) in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in responses), "a request did not finish"
    return responses


def updates_of(obj):
    return list(LogEntry.objects.get_for_object(obj).filter(action=LogEntry.Action.UPDATE).order_by("pk"))


def data(response):
    body = response.json()
    return body.get("data", body)  # the monitoring endpoint wraps replies in {"success", "data"}


@pytest.mark.parametrize("endpoint", ["v1", "monitoring"])
def test_simultaneous_resolves_of_one_error_make_one_change(team, token, endpoint):
    error, _ = make_error_and_alert(team)
    url = f"/api/v1/errors/{error.pk}/" if endpoint == "v1" else f"{URL}?type=error&id={error.pk}"
    responses = patch_at_once(token, [(url, {"resolved": True, "resolution_notes": "fixed",
                                             "resolved_by": f"person-{i}"}) for i in range(CLIENTS)])

    assert [r.status_code for r in responses] == [200] * CLIENTS
    entries = updates_of(error)
    assert len(entries) == 1, [e.changes_dict for e in entries]
    changes = entries[0].changes_dict
    assert changes["resolved"] == ["False", "True"]
    assert changes["resolution_notes"] == ["", "fixed"]
    assert entries[0].additional_data["token"] == "ci"  # whose request made the change
    stored = WorkflowError.objects.get(pk=error.pk)
    assert changes["resolved_by"][1] == stored.resolved_by
    # Everyone is answered with the one stored resolution: the first resolver and time are kept.
    assert {(data(r)["resolved_by"], data(r)["resolved_at"]) for r in responses} == {
        (stored.resolved_by, data(responses[0])["resolved_at"])}


def test_simultaneous_resolves_with_different_notes_record_each_note_change_from_the_stored_one(team, token):
    error, _ = make_error_and_alert(team)
    url = f"{URL}?type=error&id={error.pk}"
    responses = patch_at_once(token, [(url, {"resolved": True, "resolution_notes": f"note {i}"})
                                      for i in range(CLIENTS)])

    assert [r.status_code for r in responses] == [200] * CLIENTS
    entries = updates_of(error)
    assert [e.changes_dict.get("resolved") for e in entries].count(["False", "True"]) == 1
    assert all(set(e.changes_dict) <= {"resolved", "resolved_at", "resolved_by", "resolution_notes"} for e in entries)
    assert all("resolved" not in e.changes_dict for e in entries[1:])
    # Each entry's "before" is the note the previous one stored: no entry starts from a stale copy.
    notes = [e.changes_dict["resolution_notes"] for e in entries]
    assert notes[0][0] == ""
    for previous, following in zip(notes, notes[1:]):
        assert following[0] == previous[1]
    assert WorkflowError.objects.get(pk=error.pk).resolution_notes == notes[-1][1]


def test_simultaneous_acknowledgements_and_resolves_of_one_alert(team, token):
    _, alert = make_error_and_alert(team)
    url = f"{URL}?type=alert&id={alert.pk}"
    acknowledge = [(url, {"acknowledged": True, "acknowledged_by": f"ack-{i}"}) for i in range(CLIENTS // 2)]
    resolve = [(f"/api/v1/alerts/{alert.pk}/", {"resolved": True, "resolved_by": f"res-{i}"})
               for i in range(CLIENTS // 2)]
    responses = patch_at_once(token, acknowledge + resolve)

    assert [r.status_code for r in responses] == [200] * CLIENTS
    entries = updates_of(alert)
    changes = [e.changes_dict for e in entries]
    assert [c.get("acknowledged") for c in changes].count(["False", "True"]) == 1, changes
    assert [c.get("resolved") for c in changes].count(["False", "True"]) == 1, changes
    # One acknowledgement and one resolution, possibly in the same entry (a resolve acknowledges).
    assert len(entries) in (1, 2)
    stored = Alert.objects.get(pk=alert.pk)
    assert stored.acknowledged and stored.resolved
    ack_entry = next(c for c in changes if "acknowledged" in c)
    assert ack_entry["acknowledged_by"][1] == stored.acknowledged_by


def test_repeating_a_resolve_later_changes_nothing(team, token):
    error, alert = make_error_and_alert(team)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    first = data(client.patch(f"{URL}?type=error&id={error.pk}", {"resolved": True, "resolved_by": "ann"}, format="json"))
    again = data(client.patch(f"{URL}?type=error&id={error.pk}", {"resolved": True, "resolved_by": "bob"}, format="json"))
    assert (again["resolved_by"], again["resolved_at"]) == (first["resolved_by"], first["resolved_at"])
    client.patch(f"{URL}?type=alert&id={alert.pk}", {"acknowledged": True}, format="json")
    client.patch(f"{URL}?type=alert&id={alert.pk}", {"acknowledged": True}, format="json")
    assert len(updates_of(error)) == 1 and len(updates_of(alert)) == 1
    # Reopening is a real change, recorded once.
    client.patch(f"{URL}?type=error&id={error.pk}", {"resolved": False}, format="json")
    client.patch(f"{URL}?type=error&id={error.pk}", {"resolved": False}, format="json")
    entries = updates_of(error)
    assert len(entries) == 2 and entries[1].changes_dict["resolved"] == ["True", "False"]
