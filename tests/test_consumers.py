"""Websocket consumers: session auth, team isolation and event shapes, over the real Redis layer."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from config.asgi import application
from monitoring.ingest import ingest
from monitoring.live import consumers
from monitoring.live.fanout import MAX_EVENTS_PER_MESSAGE
from monitoring.live.routing import websocket_urlpatterns
from monitoring.models import Workflow
from monitoring.schemas import validate_records

pytestmark = pytest.mark.django_db(transaction=True)
router = URLRouter(websocket_urlpatterns)


def post_logs(team, n=1, workflow_id="wf-1", message="hello"):
    items = [{"workflow_id": workflow_id, "execution_id": "e1", "log_level": "info", "message": f"{message} {i}"}
             for i in range(n)]
    return ingest(team, {"log": validate_records("log", items)[0]})


async def in_thread(fn, *args):
    """Run a database-writing function in another thread, as a separate web process would, and
    close that thread's connection so the test database can be dropped afterwards."""

    def call():
        try:
            return fn(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


async def connect(path, user):
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive_all(communicator, timeout=0.6):
    """Everything that arrives until the socket stays quiet for `timeout` seconds."""
    out = []
    # receive_nothing waits without cancelling the application, as a receive timeout would.
    while not await communicator.receive_nothing(timeout=timeout, interval=0.02):
        out.append(await communicator.receive_json_from())
    return out


def run(coro):
    return async_to_sync(coro)()


def test_unauthenticated_socket_is_refused(db):
    async def scenario():
        # Through the real application: no session cookie, no socket.
        communicator = WebsocketCommunicator(application, "/ws/monitoring/", headers=[(b"origin", b"http://localhost")])
        connected, code = await communicator.connect()
        assert not connected and code == consumers.CLOSE_UNAUTHENTICATED

    run(scenario)


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def test_session_cookie_authenticates_through_the_real_stack(team, make_user):
    cookie = session_cookie(make_user("sam", team, "viewer"))

    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/monitoring/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost")]
        )
        connected, _ = await communicator.connect()
        assert connected
        await in_thread(post_logs, team)
        messages = await receive_all(communicator)
        assert {m["type"] for m in messages} == {"execution", "log"}
        await communicator.disconnect()

    run(scenario)


def test_foreign_origin_is_refused(team, make_user):
    cookie = session_cookie(make_user("sam", team, "viewer"))

    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/monitoring/", headers=[(b"cookie", cookie), (b"origin", b"http://evil.example")]
        )
        connected, _ = await communicator.connect()
        assert not connected

    run(scenario)


def test_events_have_the_rest_shape_and_stay_in_their_team(team, other_team, make_user):
    ours, theirs = make_user("ours", team, "viewer"), make_user("theirs", other_team, "admin")
    root = make_user("root", superuser=True)

    async def scenario():
        mine, ok1, _ = await connect("/ws/monitoring/", ours)
        other, ok2, _ = await connect("/ws/monitoring/", theirs)
        admin, ok3, _ = await connect("/ws/monitoring/", root)
        assert ok1 and ok2 and ok3
        result = await in_thread(post_logs, team, 1, "wf-1", "only for acme")
        log = result.created["log"][0]
        received = await receive_all(mine)
        log_messages = [m for m in received if m["type"] == "log"]
        assert len(log_messages) == 1
        message = log_messages[0]
        assert message["action"] == "created"
        assert message["data"]["id"] == str(log.pk)
        assert message["data"]["workflow_id"] == "wf-1" and message["data"]["team"] == "acme"
        assert message["data"]["message"] == "only for acme 0"
        execution = next(m for m in received if m["type"] == "execution")
        assert execution["data"]["state"] == "running"
        assert await receive_all(other) == []
        assert {m["type"] for m in await receive_all(admin)} == {"execution", "log"}
        for c in (mine, other, admin):
            await c.disconnect()

    run(scenario)


def test_workflow_socket_gets_only_its_workflow(team, other_team, make_user):
    post_logs(team, workflow_id="wf-1")
    post_logs(team, workflow_id="wf-2")
    post_logs(other_team, workflow_id="wf-x")
    wf1 = Workflow.objects.get(team=team, external_id="wf-1")
    foreign = Workflow.objects.get(team=other_team, external_id="wf-x")
    user = make_user("ours", team, "viewer")

    async def scenario():
        refused, connected, code = await connect(f"/ws/workflows/{foreign.pk}/", user)
        assert not connected and code == consumers.CLOSE_NOT_FOUND
        missing, connected, code = await connect("/ws/workflows/999999/", user)
        assert not connected and code == consumers.CLOSE_NOT_FOUND
        sock, connected, _ = await connect(f"/ws/workflows/{wf1.pk}/", user)
        assert connected
        await in_thread(post_logs, team, 1, "wf-2", "other workflow")
        await in_thread(post_logs, team, 1, "wf-1", "this workflow")
        received = [m for m in await receive_all(sock) if m["type"] == "log"]
        assert [m["data"]["message"] for m in received] == ["this workflow 0"]
        await sock.disconnect()

    run(scenario)


def test_burst_is_bounded_with_an_omitted_count(team, make_user):
    user = make_user("ours", team, "viewer")
    burst = 1200

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)
        assert connected
        await in_thread(post_logs, team, burst)
        received = await receive_all(sock, timeout=1.5)
        logs = [m for m in received if m["type"] == "log"]
        omitted = sum(m["count"] for m in received if m["type"] == "omitted")
        assert len(logs) <= MAX_EVENTS_PER_MESSAGE
        assert len(logs) + omitted == burst
        await sock.disconnect()

    run(scenario)


def test_client_that_stops_reading_gets_no_more_than_max_unacked(team, make_user, monkeypatch):
    monkeypatch.setattr(consumers, "MAX_UNACKED", 10)
    user = make_user("ours", team, "viewer")

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)
        assert connected
        await in_thread(post_logs, team, 30)
        first = await receive_all(sock)
        assert len(first) == 10  # then the server waits for acknowledgements
        await sock.send_json_to({"type": "ack", "count": 10})
        second = await receive_all(sock)
        assert len(second) == 10
        await sock.send_to(text_data="not json")  # ignored, the socket stays open
        await sock.send_json_to({"type": "ack", "count": 100})  # acks beyond what was sent do not bank credit
        third = await receive_all(sock)
        assert len(third) == 10
        await sock.send_json_to({"type": "ack", "count": 10})
        rest = await receive_all(sock)
        logs = [m for m in first + second + third + rest if m["type"] == "log"]
        assert len(logs) == 30
        await sock.disconnect()

    run(scenario)
