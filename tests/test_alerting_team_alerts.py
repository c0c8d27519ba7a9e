"""Alerts of no workflow (an infrastructure alert from Alertmanager belongs to a team only) appear
wherever alerts are listed and counted — /api/v1/alerts/, the monitoring endpoint, the Alerts page,
the overview, the navigation badge, admin, the websockets — for their team, and nowhere else."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.urls import reverse

from monitoring import services
from monitoring.ingest import ingest
from monitoring.live.routing import websocket_urlpatterns
from monitoring.models import Alert, AlertSource, Workflow
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"


def infrastructure_alert(team, title="Disk full on db-1", severity="critical"):
    return services.raise_alert(team, fingerprint=f"am:{title}", alert_type="resource", severity=severity,
                                title=title, source=AlertSource.ALERTMANAGER, labels={"instance": "db-1"})[0]


def workflow_alert(team, workflow_id="wf-1", title="Order sync failing"):
    raw = [{"workflow_id": workflow_id, "alert_type": "error", "severity": "warning", "title": title}]
    return ingest(team, {"alert": validate_records("alert", raw)[0]}).created["alert"][0]


@pytest.fixture
def signed_in(make_user):
    def make(team, role):
        client = Client()
        client.force_login(make_user(f"{role}-{team.slug}", team, role))
        return client

    return make


# --- the APIs -------------------------------------------------------------------------------------------
def test_the_resource_api_lists_and_filters_alerts_of_no_workflow(api, team):
    infra = infrastructure_alert(team)
    posted = workflow_alert(team)
    listed = api.get("/api/v1/alerts/").json()["results"]
    assert [a["id"] for a in listed] == [str(posted.pk), str(infra.pk)]
    shown = listed[1]
    assert shown["workflow_id"] is None and shown["team"] == "acme" and shown["source"] == "alertmanager"
    assert shown["labels"] == {"instance": "db-1"} and shown["status"] == "firing" and shown["occurrences"] == 1
    assert api.get(f"/api/v1/alerts/{infra.pk}/").json()["workflow_id"] is None

    def ids(query):
        r = api.get(f"/api/v1/alerts/?{query}")
        assert r.status_code == 200, r.content
        return [a["id"] for a in r.json()["results"]]

    assert ids("team=acme") == [str(posted.pk), str(infra.pk)]  # the team's, with no workflow or not
    assert ids("workflow_id=wf-1") == [str(posted.pk)]  # a workflow's leave them out
    assert ids("source=alertmanager") == [str(infra.pk)]
    assert ids("source=posted,rule") == [str(posted.pk)]
    assert ids("status=firing") == [str(posted.pk), str(infra.pk)]
    services.clear_alert(team, infra.fingerprint)
    assert ids("status=resolved") == [str(infra.pk)] and ids("status=firing") == [str(posted.pk)]
    r = api.get("/api/v1/alerts/?status=open")
    assert r.status_code == 400 and "status" in r.json()


def test_the_monitoring_endpoint_lists_and_counts_alerts_of_no_workflow(api, team):
    infra = infrastructure_alert(team)
    posted = workflow_alert(team)

    def ids(query):
        r = api.get(f"{URL}?type=alerts&{query}")
        assert r.status_code == 200, r.content
        return [a["id"] for a in r.json()["data"]]

    assert ids("") == ids("team=acme") == [str(posted.pk), str(infra.pk)]
    assert ids("workflow_id=wf-1") == [str(posted.pk)]
    assert ids("source=alertmanager&status=firing") == [str(infra.pk)]
    assert api.get(f"{URL}?type=alerts&status=open").status_code == 400

    for query in ("", "&team=acme"):
        data = api.get(f"{URL}?type=dashboard{query}").json()["data"]
        assert data["unresolved_alerts"] == 2 and data["total_alerts"] == 2
        assert data["system_health"] == "critical"  # the infrastructure alert is critical
        assert {a["id"] for a in data["recent_activity"]["alerts"]} == {str(posted.pk), str(infra.pk)}
    data = api.get(f"{URL}?type=dashboard&workflow_id=wf-1").json()["data"]
    assert data["unresolved_alerts"] == 1 and data["system_health"] == "degraded"

    r = api.patch(f"{URL}?type=alert&id={infra.pk}", {"acknowledged": True}, format="json")
    assert r.status_code == 200 and r.json()["data"]["acknowledged_by"] == "token:ci"


# --- the pages ------------------------------------------------------------------------------------------
def test_the_alerts_page_shows_and_acknowledges_an_alert_of_no_workflow(team, other_team, signed_in):
    infra = infrastructure_alert(team)
    infrastructure_alert(other_team, title="Their disk")
    member = signed_in(team, "member")
    page = member.get("/alerts/").content.decode()
    assert "Disk full on db-1" in page and "Their disk" not in page
    assert "firing" in page and "Alertmanager" in page
    r = member.post(f"/alerts/{infra.pk}/acknowledge/", {"next": "/alerts/"})
    assert r.status_code == 302
    infra.refresh_from_db()
    assert infra.acknowledged and infra.acknowledged_by == f"member-{team.slug}"
    # A viewer sees it, without the buttons, and may not act on it.
    viewer = signed_in(team, "viewer")
    assert "Disk full on db-1" in viewer.get("/alerts/?resolved=false").content.decode()
    assert viewer.post(f"/alerts/{infra.pk}/resolve/").status_code == 403


def test_a_repeated_alert_shows_how_often_it_was_seen(team, signed_in):
    for _ in range(3):
        infrastructure_alert(team)
    page = signed_in(team, "viewer").get("/alerts/").content.decode()
    assert "seen 3 times" in page


def test_overview_and_badge_count_alerts_of_no_workflow(team, other_team, signed_in):
    infrastructure_alert(team)
    infrastructure_alert(other_team, title="Their disk")
    viewer = signed_in(team, "viewer")
    assert viewer.get("/nav-counts/").json() == {"unacknowledged_alerts": 1}
    overview = viewer.get("/")
    assert overview.context["stats"]["unacknowledged_alerts"] == 1
    assert overview.context["summary"]["unresolved_alerts"] == 1
    assert overview.context["summary"]["system_health"] == "critical"


def test_admin_lists_alerts_of_no_workflow_with_their_team(team, other_team, make_user):
    infra = infrastructure_alert(team)
    infrastructure_alert(other_team, title="Their disk")
    client = Client()
    client.force_login(make_user("mia", team, "member"))
    changelist = reverse("admin:monitoring_alert_changelist")
    r = client.get(changelist)
    assert [a.pk for a in r.context["cl"].result_list] == [infra.pk]
    assert "Firing" in r.content.decode()
    assert [a.pk for a in client.get(f"{changelist}?status=resolved").context["cl"].result_list] == []
    assert [a.pk for a in client.get(f"{changelist}?source__exact=alertmanager").context["cl"].result_list] == [infra.pk]
    assert client.get(reverse("admin:monitoring_alert_change", args=[infra.pk])).status_code == 200
    r = client.post(changelist, {"action": "acknowledge", "_selected_action": [str(infra.pk)], "index": "0"})
    assert r.status_code == 302
    infra.refresh_from_db()
    assert infra.acknowledged and infra.acknowledged_by == "mia"


def test_admin_adds_an_alert_through_deduplication(team, make_user):
    workflow_alert(team, title="Manual check")
    workflow = Workflow.objects.get(team=team)
    client = Client()
    client.force_login(make_user("root", superuser=True))
    form = {"team": team.pk, "workflow": workflow.pk, "execution": "", "alert_type": "error", "severity": "warning",
            "title": "Manual check", "description": "", "metadata": "{}", "labels": "{}",
            "timestamp_0": "2026-01-01", "timestamp_1": "00:00:00", "resolution_notes": "", "_save": "Save"}
    r = client.post(reverse("admin:monitoring_alert_add"), form)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert Alert.objects.get().occurrences == 2  # the posted alert, counted
    # An alert's workflow must be its own team's.
    other = Workflow.objects.create(team=type(team).objects.create(slug="other", name="Other"), external_id="x")
    r = client.post(reverse("admin:monitoring_alert_add"), {**form, "workflow": other.pk, "title": "new"})
    assert r.status_code == 200 and "another team" in str(r.context["adminform"].form.errors["workflow"])


# --- the websockets -------------------------------------------------------------------------------------
router = URLRouter(websocket_urlpatterns)


async def subscribe(path, user):
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    heartbeat = await communicator.receive_json_from(timeout=3)
    assert heartbeat["type"] == "heartbeat"
    return communicator


async def received(communicator, timeout=0.6):
    out = []
    while not await communicator.receive_nothing(timeout=timeout, interval=0.02):
        out.append(json.loads((await communicator.receive_output())["text"]))
    return out


async def in_thread(fn, *args):
    def call():
        try:
            return fn(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


@pytest.mark.django_db(transaction=True)
def test_an_alert_of_no_workflow_reaches_its_teams_sockets_only(team, other_team, make_user):
    workflow_alert(team)  # registers wf-1, whose own socket must not get the infrastructure alert
    wf1 = Workflow.objects.get(team=team)
    ours, theirs = make_user("ours", team, "viewer"), make_user("theirs", other_team, "admin")
    root = make_user("root", superuser=True)

    async def scenario():
        mine = await subscribe("/ws/monitoring/", ours)
        other = await subscribe("/ws/monitoring/", theirs)
        everyone = await subscribe("/ws/monitoring/", root)
        workflow_socket = await subscribe(f"/ws/workflows/{wf1.pk}/", ours)
        alert = await in_thread(infrastructure_alert, team)
        got = await received(mine)
        assert [(m["type"], m["action"], m["data"]["id"], m["data"]["workflow_id"]) for m in got] == [
            ("alert", "created", str(alert.pk), None)]
        assert [m["data"]["id"] for m in await received(everyone)] == [str(alert.pk)]
        assert await received(other) == [] and await received(workflow_socket) == []
        await in_thread(infrastructure_alert, team)  # a repeat: updated, counted
        assert [(m["action"], m["data"]["occurrences"]) for m in await received(mine)] == [("updated", 2)]
        for c in (mine, other, everyone, workflow_socket):
            await c.disconnect()

    async_to_sync(scenario)()
