"""Websockets through the real ASGI server (a Daphne process) and the real Redis channel layer, as a
client outside sees them: a quiet socket stays open and keeps receiving, refusals arrive as close
codes, and a socket can follow a workflow by the id services post."""

import json
import threading
import time
import urllib.request

import pytest
import websocket
from channels.layers import get_channel_layer
from django.db import connection
from django.test import Client

from monitoring.live import consumers
from monitoring.models import ServiceToken

from daphne_server import DaphneServer, database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """One Daphne process for this module, on the test database."""
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with DaphneServer(env={"DATABASE_URL": url}) as daphne:
        yield daphne


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(server, path, cookie=None, origin=None):
    return websocket.create_connection(server.ws_url + path, cookie=cookie, origin=origin or server.url, timeout=5)


def post(server, token, kind, body, query=""):
    request = urllib.request.Request(
        f"{server.url}/api/workflows/monitoring?type={kind}{query}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.load(response)


class Listener:
    """Reads a socket in a thread, as a page does (which also answers the server's pings), and
    keeps what arrives."""

    def __init__(self, ws):
        self.ws, self.messages, self.closed = ws, [], None
        self.ws.settimeout(0.5)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.closed is None:
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketConnectionClosedException:
                self.closed = "connection lost"
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.closed = int.from_bytes(data[:2], "big") if len(data) >= 2 else "no code"
                return
            self.messages.append(json.loads(data))

    def wait_for(self, predicate, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            time.sleep(0.02)
        return []

    def close(self):
        self.closed = self.closed or "closed by the test"
        self.ws.close()
        self.thread.join(2)


def log_with(text):
    return lambda m: m.get("type") == "log" and m["data"]["message"] == text


def test_channel_layer_reads_wait_longer_than_its_blocking_receive():
    """The layer receives with a blocking pop of brpop_timeout seconds; a socket read timeout no
    longer than that (redis-py 8's default is 5 s) ends every quiet socket with 1011."""
    layer = get_channel_layer()
    pool = layer.create_pool(0)
    timeout = pool.connection_class(**pool.connection_kwargs).socket_timeout  # with redis-py's defaults
    assert timeout is None or timeout > layer.brpop_timeout + 1


def test_a_socket_left_idle_for_a_minute_still_receives_the_next_event(server, team, make_user):
    """Longer than every timeout on the way (the layer's 5 s blocking receive and 10 s read
    timeout, Daphne's 20 s ping, the 25 s heartbeat, a 60 s proxy idle timeout)."""
    cookie = session_cookie(make_user("sam", team, "viewer"))
    token = ServiceToken.issue(team, "idle")[1]
    listener = Listener(open_socket(server, "/ws/monitoring/", cookie))
    try:
        time.sleep(70)
        assert listener.closed is None, f"the idle socket was closed: {listener.closed}"
        # The server kept talking while there was nothing to say, so proxies see traffic.
        heartbeats = [m for m in listener.messages if m["type"] == "heartbeat"]
        assert len(heartbeats) >= 70 // consumers.HEARTBEAT_SECONDS + 1
        post(server, token, "log", {"workflow_id": "wf-001", "execution_id": "e1", "log_level": "info",
                                    "message": "after a quiet minute"})
        assert listener.wait_for(log_with("after a quiet minute"))
    finally:
        listener.close()
    assert "Timeout reading" not in server.log()


def test_refusals_reach_the_client_as_close_codes(server, team, make_user):
    cookie = session_cookie(make_user("sam", team, "viewer"))
    for path, cookie_sent, code in (
        ("/ws/monitoring/", None, consumers.CLOSE_UNAUTHENTICATED),
        ("/ws/workflows/wf-404/", cookie, consumers.CLOSE_NOT_FOUND),
        ("/ws/workflows/12345/", cookie, consumers.CLOSE_NOT_FOUND),
        ("/ws/no-such-path/", cookie, consumers.CLOSE_NOT_FOUND),
        ("/ws/no-such-path/", None, consumers.CLOSE_NOT_FOUND),
    ):
        ws = open_socket(server, path, cookie_sent)  # the handshake succeeds...
        opcode, data = ws.recv_data()  # ...and the first frame says why the socket ends
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == code, path
        ws.close()
    # A foreign origin is refused during the handshake (HTTP 403): no socket is ever opened for
    # a page of another site.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_socket(server, "/ws/monitoring/", cookie, origin="http://evil.example")
    assert refused.value.status_code == 403
    assert "Traceback" not in server.log()


def test_a_socket_follows_a_workflow_by_the_id_services_post(server, team, other_team, make_user):
    user = make_user("sam", team, "member")
    cookie = session_cookie(user)
    token = ServiceToken.issue(team, "svc")[1]
    post(server, token, "log", {"workflow_id": "wf-001", "execution_id": "e1", "log_level": "info", "message": "first"})
    listener = Listener(open_socket(server, "/ws/workflows/wf-001/?team=acme", cookie))
    try:
        assert listener.wait_for(lambda m: m["type"] == "heartbeat")
        post(server, token, "log", {"workflow_id": "wf-002", "execution_id": "e2", "log_level": "info",
                                    "message": "another workflow"})
        post(server, token, "log", {"workflow_id": "wf-001", "execution_id": "e1", "log_level": "warn",
                                    "message": "wf-001 live"})
        assert listener.wait_for(log_with("wf-001 live"))
        assert not [m for m in listener.messages if m["type"] == "log" and m["data"]["workflow_id"] != "wf-001"]
        assert listener.closed is None
    finally:
        listener.close()
