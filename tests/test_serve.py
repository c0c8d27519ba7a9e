"""The production web server, `python -m config.serve` (uvicorn, two worker processes), started for
real on the test database: it answers an authenticated POST, and a socket open on it receives the
posted log, whichever worker took the POST and whichever holds the socket (the Redis layer
carries events between them)."""

import json
import sys
import time
import urllib.error
import urllib.request

import pytest
import websocket
from django.db import connection

from monitoring.models import ServiceToken

from child_process import Process
from daphne_server import database_url, free_port
from test_live_server import Listener, log_with, post, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


class Served(Process):
    """`python -m config.serve --workers 2` on a free port, with the test run's settings (started,
    logged and stopped by child_process.Process)."""

    def __init__(self, tmp_path, env):
        self.port = free_port()
        self.url, self.ws_url = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(self.port),
                          "--workers", "2"], env, tmp_path / "serve.log")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/", timeout=1):
                    return self
            except urllib.error.HTTPError:
                return self  # answered (401/403 without credentials): serving
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"config.serve did not answer within {timeout} s:\n{self.log()}")


@pytest.fixture
def served(tmp_path):
    import os

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    with Served(tmp_path, env) as server:
        yield server.wait_ready()


def test_the_production_server_takes_a_post_and_streams_it_to_a_socket(served, team, make_user):
    token = ServiceToken.issue(team, "serve")[1]
    cookie = session_cookie(make_user("sam", team, "viewer"))
    listeners = [Listener(websocket.create_connection(f"{served.ws_url}/ws/monitoring/", cookie=cookie,
                                                      origin=served.url, timeout=5)) for _ in range(4)]
    try:
        for listener in listeners:  # subscribed: the heartbeat is sent once the socket has joined
            assert listener.wait_for(lambda m: m["type"] == "heartbeat"), listener.closed
        for i in range(6):  # new connections each: the workers share them
            created = post(served, token, "log", {"workflow_id": "wf-serve", "execution_id": "e1",
                                                  "log_level": "info", "message": f"served {i}"})
            assert created["data"]["message"] == f"served {i}"
        for listener in listeners:
            for i in range(6):
                assert listener.wait_for(log_with(f"served {i}")), f"socket missed 'served {i}'"
    finally:
        for listener in listeners:
            listener.close()
    # Without credentials the API refuses, as under any server.
    request = urllib.request.Request(f"{served.url}/api/workflows/monitoring?type=log", method="POST",
                                     data=json.dumps({"workflow_id": "wf"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_the_production_server_answers_an_over_long_request_line_with_the_documented_json_414(served):
    """docs/monitoring-endpoint.md: a request line over 16 KB is a JSON 414 (Daphne's limit, kept
    under uvicorn, which would accept several times more)."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{served.url}/api/v1/logs/?" + "level=info&" * 2000, timeout=10)
    assert refused.value.code == 414
    assert "longer than 16384 bytes" in json.load(refused.value)["error"]


def test_without_redis_a_socket_receives_what_its_own_process_wrote(team, make_user):
    """The demo's setup (no REDIS_URL: the in-memory layer, one server process): HTTP runs in the
    bridge's threads, outside the event loop the sockets listen on, and the event still reaches
    them there."""
    from daphne_server import DaphneServer

    token = ServiceToken.issue(team, "no-redis")[1]
    cookie = session_cookie(make_user("sam", team, "viewer"))
    with DaphneServer(env={"DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": ""}) as server:
        listener = Listener(websocket.create_connection(f"{server.ws_url}/ws/monitoring/", cookie=cookie,
                                                        origin=server.url, timeout=5))
        try:
            assert listener.wait_for(lambda m: m["type"] == "heartbeat"), listener.closed
            post(server, token, "log", {"workflow_id": "wf-demo", "execution_id": "e1", "log_level": "info",
                                        "message": "in memory"})
            assert listener.wait_for(log_with("in memory")), server.log()[-2000:]
        finally:
            listener.close()
