"""Websocket consumers: session auth, team isolation and event shapes, over the real Redis layer."""

import asyncio
import json
import time

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
from monitoring.models import Membership, Workflow
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
    """A socket as `user`: (communicator, connected, close code). A subscribed socket first gets
    a heartbeat (acknowledged here, as the pages do); a refused one is accepted, then closed."""
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    first = await communicator.receive_output(timeout=3)
    if first["type"] == "websocket.close":
        return communicator, False, first.get("code")
    assert json.loads(first["text"]) == {"type": "heartbeat", "interval": consumers.HEARTBEAT_SECONDS}
    await communicator.send_json_to({"type": "ack", "count": 1})
    return communicator, connected, None


async def close_code(communicator):
    """The code a refused socket is closed with, after it was accepted (so that browsers see it)."""
    connected, _ = await communicator.connect()
    assert connected, "refused before accepting: a browser would see only HTTP 403"
    message = await communicator.receive_output(timeout=3)
    assert message["type"] == "websocket.close"
    return message["code"]


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
        assert await close_code(communicator) == consumers.CLOSE_UNAUTHENTICATED

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
        assert (await communicator.receive_json_from())["type"] == "heartbeat"
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


def test_workflow_socket_by_the_workflow_id_services_post(team, other_team, make_team, make_user):
    """/ws/workflows/<external id>/ follows that workflow in every team the user may see; ?team=
    picks one, as the REST API's workflow_id filter does."""
    for t in (team, other_team):
        post_logs(t, workflow_id="wf-001")
    post_logs(team, workflow_id="orders/eu daily")
    post_logs(make_team("initech"), workflow_id="wf-secret")
    user = make_user("both", team, "viewer")
    Membership.objects.create(team=other_team, user=user, role="viewer")

    async def logs_of(sock):
        return sorted(m["data"]["message"] for m in await receive_all(sock) if m["type"] == "log")

    async def scenario():
        every_team, ok1, _ = await connect("/ws/workflows/wf-001/", user)
        one_team, ok2, _ = await connect("/ws/workflows/wf-001/?team=globex", user)
        odd_id, ok3, _ = await connect("/ws/workflows/orders%2Feu%20daily/?team=", user)
        assert ok1 and ok2 and ok3
        await in_thread(post_logs, team, 1, "wf-001", "acme's")
        await in_thread(post_logs, other_team, 1, "wf-001", "globex's")
        await in_thread(post_logs, team, 1, "wf-002", "another workflow")
        await in_thread(post_logs, team, 1, "orders/eu daily", "slashes and spaces")
        assert await logs_of(every_team) == ["acme's 0", "globex's 0"]
        assert await logs_of(one_team) == ["globex's 0"]
        assert await logs_of(odd_id) == ["slashes and spaces 0"]
        for name, path in (("another team's workflow", "/ws/workflows/wf-secret/"),
                           ("a team the user is not in", "/ws/workflows/wf-001/?team=initech"),
                           ("no such team", "/ws/workflows/wf-001/?team=nope"),
                           ("no such workflow", "/ws/workflows/wf-404/"),
                           ("a number beyond any id", "/ws/workflows/99999999999999999999999999/")):
            _, connected, code = await connect(path, user)
            assert not connected and code == consumers.CLOSE_NOT_FOUND, name
        for sock in (every_team, one_team, odd_id):
            await sock.disconnect()

    run(scenario)


def test_unknown_websocket_paths_are_refused_cleanly(team, make_user):
    cookie = session_cookie(make_user("sam", team, "viewer"))

    async def scenario():
        for path in ("/ws/nothing-here/", "/ws/workflows/", "/ws/monitoring/extra/", "/other/"):
            for headers in ([(b"origin", b"http://localhost")], [(b"cookie", cookie), (b"origin", b"http://localhost")]):
                communicator = WebsocketCommunicator(application, path, headers=headers)
                assert await close_code(communicator) == consumers.CLOSE_NOT_FOUND, path

    run(scenario)


def log_events(n, start=0):
    return [{"type": "log", "action": "created", "data": {"n": i}} for i in range(start, start + n)]


def encoded(events):
    """As the fan-out sends them: each event's JSON text."""
    return [json.dumps(e) for e in events]


async def send_to_team(team, events, omitted=0):
    """A fan-out message as fanout.send_events builds it, straight to the team's group."""
    from channels.layers import get_channel_layer

    from monitoring.live.groups import team_group

    group = team_group(team.pk)
    await get_channel_layer().group_send(group, {"type": "monitoring.events", "group": group,
                                                 "events": encoded(events), "omitted": omitted})


def test_an_event_is_sent_at_once_not_at_the_next_tick(team, make_user, monkeypatch):
    # With a rate window of 30 s, a batching consumer would hold the event for 30 s.
    monkeypatch.setattr(consumers, "FLUSH_SECONDS", 30)
    user = make_user("ours", team, "viewer")

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)
        assert connected
        await send_to_team(team, log_events(1))
        assert await sock.receive_json_from(timeout=2) == log_events(1)[0]
        await sock.disconnect()

    run(scenario)


def test_a_burst_goes_out_50_at_a_time_every_100_ms(team, make_user):
    """The documented rate: at most 50 messages in any 100 ms. A burst of 200 therefore arrives in
    four groups of 50, the groups 100 ms apart."""
    user = make_user("ours", team, "viewer")

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)
        assert connected
        await asyncio.sleep(consumers.FLUSH_SECONDS)  # the heartbeat's send leaves the window
        await send_to_team(team, log_events(200))
        arrivals = []
        for _ in range(200):
            message = await sock.receive_json_from(timeout=2)
            arrivals.append((time.monotonic(), message["data"]["n"]))
        assert [n for _, n in arrivals] == list(range(200))
        gaps = [later[0] - earlier[0] for earlier, later in zip(arrivals, arrivals[1:])]
        # The three pauses are after the 50th, 100th and 150th message...
        assert sorted(sorted(range(len(gaps)), key=gaps.__getitem__)[-3:]) == [49, 99, 149]
        # ...and the 100 ms window holds: message i+50 leaves at least 100 ms after message i.
        assert arrivals[150][0] - arrivals[0][0] >= 3 * 0.1 - 0.03
        await sock.disconnect()

    run(scenario)


def test_a_socket_buffers_at_most_500_and_counts_the_rest(team, make_user):
    user = make_user("ours", team, "viewer")

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)
        assert connected
        # 600 events arriving together (more than one commit's 200, as several commits would)
        await send_to_team(team, log_events(600))
        received = await receive_all(sock, timeout=1.0)
        # The buffer kept the newest 500; the 100 oldest are counted, after what was sent.
        assert [m["data"]["n"] for m in received[:-1]] == list(range(100, 600))
        assert received[-1] == {"type": "omitted", "count": 100}
        await sock.disconnect()

    run(scenario)


def test_a_quiet_socket_gets_heartbeats_until_its_client_stops_acknowledging(team, make_user, monkeypatch):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(consumers, "MAX_UNACKED", 3)
    user = make_user("ours", team, "viewer")

    async def scenario():
        sock, connected, _ = await connect("/ws/monitoring/", user)  # its heartbeat acknowledged
        assert connected
        heartbeats = [await sock.receive_json_from(timeout=1) for _ in range(3)]
        assert heartbeats == [{"type": "heartbeat", "interval": 0.2}] * 3
        assert await sock.receive_nothing(timeout=0.7)  # three unacknowledged: nothing more
        await sock.send_json_to({"type": "ack", "count": 3})
        assert (await sock.receive_json_from(timeout=1))["type"] == "heartbeat"
        await sock.disconnect()

    run(scenario)


def test_socket_is_refused_with_try_again_later_while_redis_is_unreachable(team, make_user, settings, caplog):
    from daphne_server import free_port

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]}}}
    user = make_user("ours", team, "viewer")

    async def scenario():
        _, connected, code = await connect("/ws/monitoring/", user)
        assert not connected and code == consumers.CLOSE_TRY_AGAIN_LATER  # the page retries with back-off

    run(scenario)
    assert "live updates unavailable" in caplog.text
