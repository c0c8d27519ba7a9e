"""A "workflow" event (updated, with what changed) whenever a workflow's active flag, name or tags
change — through services, /api/v1/workflows/ or admin — so that the alerting engine's
"deactivated" rule hears of it; and the websockets carry it safely."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.urls import reverse

from monitoring import events, services
from monitoring.live.routing import websocket_urlpatterns
from monitoring.models import Workflow


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-1", name="Order sync", tags=["billing"])


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """published(fn) runs fn and returns the workflow events sent after its commit."""
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    def run(fn):
        seen.clear()
        with django_capture_on_commit_callbacks(execute=True):
            fn()
        return [e for e in seen if e.type == "workflow"]

    events.monitoring_event.connect(receiver)
    yield run
    events.monitoring_event.disconnect(receiver)


def test_deactivating_publishes_what_changed(workflow, published):
    sent = published(lambda: services.set_workflow_active(workflow, False))
    assert len(sent) == 1
    event = sent[0]
    assert (event.action, event.team_id, event.workflow_pk) == ("updated", workflow.team_id, workflow.pk)
    assert event.changes == {"active": [True, False]}
    assert event.data["workflow_id"] == "wf-1" and event.data["active"] is False
    workflow.refresh_from_db()
    assert workflow.active is False
    # Saying it again changes nothing and tells nobody.
    assert published(lambda: services.set_workflow_active(workflow, False)) == []


def test_only_name_active_and_tags_change_through_update_workflow(workflow):
    with pytest.raises(ValueError, match="external_id"):
        services.update_workflow(workflow, {"external_id": "other"})


def test_the_resource_api_publishes_workflow_changes(team, workflow, client_for, make_user, published):
    api = client_for(make_user("ada", team, "admin"))
    url = f"/api/v1/workflows/{workflow.pk}/"
    sent = published(lambda: api.patch(url, {"active": False, "tags": ["billing", "nightly"]}, format="json"))
    assert [e.changes for e in sent] == [{"active": [True, False], "tags": [["billing"], ["billing", "nightly"]]}]
    assert published(lambda: api.patch(url, {"name": "Order sync"}, format="json")) == []  # the same name
    r = api.patch(url, {"name": "Order sync v2"}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Order sync v2" and r.json()["active"] is False


def test_a_refused_change_publishes_nothing(api, workflow, client_for, published, team, make_user):
    # Changing workflows needs the team admin role: a token or a member changes nothing, tells nobody.
    member = client_for(make_user("mia", team, "member"))
    for client in (api, member):
        sent = published(lambda: client.patch(f"/api/v1/workflows/{workflow.pk}/", {"active": False}, format="json"))
        assert sent == []
    workflow.refresh_from_db()
    assert workflow.active is True


def test_admin_publishes_workflow_changes(team, workflow, make_user, published):
    client = Client()
    client.force_login(make_user("ada", team, "admin"))
    form = {"team": team.pk, "source": "api", "external_id": "wf-1", "name": "Order sync", "tags": '["billing"]',
            "created_at_0": "2026-01-01", "created_at_1": "00:00:00", "_save": "Save"}  # active unticked
    r = None

    def save():
        nonlocal r
        r = client.post(reverse("admin:monitoring_workflow_change", args=[workflow.pk]), form)

    sent = published(save)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert [e.changes for e in sent] == [{"active": [True, False]}]
    workflow.refresh_from_db()
    assert workflow.active is False and workflow.name == "Order sync"


@pytest.mark.django_db(transaction=True)
def test_workflow_events_reach_the_teams_sockets(workflow, make_user, other_team):
    ours, theirs = make_user("ours", workflow.team, "viewer"), make_user("theirs", other_team, "admin")
    router = URLRouter(websocket_urlpatterns)

    async def subscribe(path, user):
        communicator = WebsocketCommunicator(router, path)
        communicator.scope["user"] = user
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=3))["type"] == "heartbeat"
        return communicator

    def deactivate():
        try:
            services.set_workflow_active(workflow, False)
        finally:
            connection.close()

    async def scenario():
        mine = await subscribe("/ws/monitoring/", ours)
        this_workflow = await subscribe(f"/ws/workflows/{workflow.pk}/", ours)
        other = await subscribe("/ws/monitoring/", theirs)
        await asyncio.to_thread(deactivate)
        for socket in (mine, this_workflow):
            message = await socket.receive_json_from(timeout=3)
            assert (message["type"], message["action"], message["data"]["active"]) == ("workflow", "updated", False)
        assert await other.receive_nothing(timeout=0.5)
        for socket in (mine, this_workflow, other):
            await socket.disconnect()

    async_to_sync(scenario)()
