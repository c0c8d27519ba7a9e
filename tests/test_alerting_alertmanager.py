"""POST /api/v1/integrations/alertmanager: Alertmanager's webhook (payload version "4") becomes
Flowtower alerts of the token's team — raised, deduplicated by Alertmanager's fingerprint,
tied to a workflow by its `workflow_id` label, resolved — and a bad payload is a 400 naming the
field, with nothing written."""

from datetime import datetime, timezone

import pytest

from monitoring.models import Alert, ServiceToken, Workflow

URL = "/api/v1/integrations/alertmanager"
STARTS = "2026-03-01T10:00:00.000Z"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert has no end


def am_alert(fingerprint="a1b2c3d4e5f60718", status="firing", labels=None, annotations=None, **extra):
    return {
        "status": status,
        "labels": {"alertname": "QueueBacklog", "severity": "critical", "queue": "billing"} if labels is None
        else labels,
        "annotations": {"summary": "Billing queue is backing up", "description": "5,000 jobs waiting"}
        if annotations is None else annotations,
        "startsAt": STARTS,
        "endsAt": ZERO_TIME if status == "firing" else "2026-03-01T10:30:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=queue_depth",
        "fingerprint": fingerprint,
        **extra,
    }


def payload(*alerts, status="firing"):
    return {
        "version": "4", "groupKey": '{}:{alertname="QueueBacklog"}', "truncatedAlerts": 0, "status": status,
        "receiver": "flowtower", "groupLabels": {"alertname": "QueueBacklog"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example:9093", "alerts": list(alerts),
    }


def post(api, body):
    return api.post(URL, body, format="json")


def test_a_firing_alert_becomes_an_open_alert_of_the_tokens_team(api, team):
    r = post(api, payload(am_alert()))
    assert r.status_code == 200, r.content
    assert r.json()["created"] == 1 and r.json()["received"] == 1
    alert = Alert.objects.get()
    assert (alert.team, alert.workflow, alert.source) == (team, None, "alertmanager")
    assert alert.fingerprint == "am:a1b2c3d4e5f60718"
    assert alert.status == "firing" and alert.severity == "critical" and alert.alert_type == "dependency"
    assert alert.title == "Billing queue is backing up" and alert.description == "5,000 jobs waiting"
    assert alert.labels == {"alertname": "QueueBacklog", "severity": "critical", "queue": "billing"}
    assert alert.metadata["generatorURL"] == "http://prometheus.example:9090/graph?g0.expr=queue_depth"
    assert datetime.fromisoformat(alert.metadata["startsAt"]) == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert r.json()["alerts"] == [{"fingerprint": "am:a1b2c3d4e5f60718", "status": "firing", "id": str(alert.pk),
                                   "created": True}]


def test_the_same_firing_alert_sent_again_is_one_alert_seen_more_often(api):
    for _ in range(3):
        assert post(api, payload(am_alert())).status_code == 200
    alert = Alert.objects.get()
    assert alert.occurrences == 3 and alert.status == "firing"
    r = post(api, payload(am_alert()))
    assert (r.json()["created"], r.json()["updated"]) == (0, 1)


def test_a_resolved_alert_resolves_it_and_a_new_firing_opens_a_new_one(api):
    post(api, payload(am_alert()))
    r = post(api, payload(am_alert(status="resolved"), status="resolved"))
    assert r.json()["resolved"] == 1
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.resolved_by == "Alertmanager"
    # Resolved again (Alertmanager repeats resolved notifications): nothing open, nothing changes.
    r = post(api, payload(am_alert(status="resolved"), status="resolved"))
    assert (r.json()["resolved"], r.json()["already_resolved"]) == (0, 1)
    assert r.json()["alerts"][0]["id"] is None
    # It fires again later: a new alert, the resolved one stays resolved.
    post(api, payload(am_alert()))
    assert Alert.objects.filter(resolved=False).count() == 1 and Alert.objects.count() == 2


@pytest.mark.parametrize("label, severity", [
    ("critical", "critical"), ("page", "critical"), ("ERROR", "critical"), ("warning", "warning"),
    ("warn", "warning"), ("info", "info"), ("none", "info"), ("disaster", "warning"), (None, "warning"),
])
def test_severity_comes_from_the_severity_label_and_unknown_is_warning(api, label, severity):
    labels = {"alertname": "X"} if label is None else {"alertname": "X", "severity": label}
    post(api, payload(am_alert(labels=labels)))
    assert Alert.objects.get().severity == severity


def test_the_workflow_id_label_ties_the_alert_to_that_workflow_of_the_team(api, team, other_team):
    mine = Workflow.objects.create(team=team, external_id="wf-billing", name="Billing")
    Workflow.objects.create(team=other_team, external_id="wf-other", name="Theirs")
    post(api, payload(am_alert("f1", labels={"alertname": "A", "workflow_id": "wf-billing"}),
                      am_alert("f2", labels={"alertname": "B", "workflow_id": "wf-other"}),
                      am_alert("f3", labels={"alertname": "C", "workflow_id": "wf-unknown"})))
    by_fingerprint = {a.fingerprint: a for a in Alert.objects.all()}
    assert by_fingerprint["am:f1"].workflow == mine
    # Another team's workflow, or none by that id: the alert is the team's, with no workflow.
    assert by_fingerprint["am:f2"].workflow is None and by_fingerprint["am:f2"].team == team
    assert by_fingerprint["am:f3"].workflow is None


def test_alert_type_label_title_fallbacks(api):
    post(api, payload(
        am_alert("t1", labels={"alertname": "DiskFull", "alert_type": "resource"}, annotations={}),
        am_alert("t2", labels={"alertname": "Slow", "alert_type": "not-a-type"}, annotations={"title": "Slow API"}),
        am_alert("t3", labels={}, annotations={}),
    ))
    by_fingerprint = {a.fingerprint: a for a in Alert.objects.all()}
    assert (by_fingerprint["am:t1"].alert_type, by_fingerprint["am:t1"].title) == ("resource", "DiskFull")
    assert (by_fingerprint["am:t2"].alert_type, by_fingerprint["am:t2"].title) == ("dependency", "Slow API")
    assert by_fingerprint["am:t3"].title == "Alertmanager alert" and by_fingerprint["am:t3"].description == ""


def test_fingerprints_are_per_team(api, client_for, other_team):
    other = client_for(ServiceToken.issue(other_team, "am")[1])
    post(api, payload(am_alert()))
    post(other, payload(am_alert()))
    assert Alert.objects.filter(fingerprint="am:a1b2c3d4e5f60718").count() == 2
    post(other, payload(am_alert(status="resolved"), status="resolved"))
    assert Alert.objects.get(team__slug="acme").status == "firing"


@pytest.mark.parametrize("change, field", [
    (lambda p: p.pop("version"), "version"),
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.update(status="pending"), "status"),
    (lambda p: p.update(alerts="nope"), "alerts"),
    (lambda p: p["alerts"][1].pop("fingerprint"), "alerts"),
    (lambda p: p["alerts"][1].update(status="weird"), "alerts"),
    (lambda p: p["alerts"][1].update(startsAt="yesterday"), "alerts"),
    (lambda p: p["alerts"][1].update(labels={"a": {"nested": 1}}), "alerts"),
    (lambda p: p["alerts"][1].update(labels={"a\x00": "x"}), "alerts"),
    (lambda p: p["alerts"][1].update(fingerprint="f" * 200), "alerts"),
])
def test_a_bad_payload_is_a_400_naming_the_field_and_writes_nothing(api, change, field):
    body = payload(am_alert("good"), am_alert("bad"))
    change(body)
    r = post(api, body)
    assert r.status_code == 400, r.content
    assert field in r.json()
    if field == "alerts" and isinstance(r.json()["alerts"], dict):
        assert list(r.json()["alerts"]) == ["1"]  # the index of the bad alert
    assert not Alert.objects.exists()  # the good alert before it was not written either


def test_not_json_and_not_an_object_are_400s(api):
    assert api.post(URL, "[1, 2]", content_type="application/json").status_code == 400
    assert api.post(URL, "{", content_type="application/json").status_code == 400
    assert not Alert.objects.exists()


def test_it_takes_a_service_token_not_a_person_and_no_credentials_is_401(client_for, make_user, team):
    admin = make_user("ann", team, "admin")
    r = client_for(admin).post(URL, payload(am_alert()), format="json")
    assert r.status_code == 403 and "service token" in r.json()["detail"]
    r = client_for(None).post(URL, payload(am_alert()), format="json")
    assert r.status_code == 401
    assert not Alert.objects.exists()


def test_with_a_trailing_slash_too(api):
    assert api.post(URL + "/", payload(am_alert()), format="json").status_code == 200
