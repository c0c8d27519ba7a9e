"""config.wsgi_bridge: HTTP under ASGI through Django's WSGI handler in a pool of threads. The pool
must work in a process forked after it served (a forking server, a test's live server): a child
inherited a pool that believed its threads idle, none ran there, and every request waited forever."""

import asyncio
import os
import signal

from config.wsgi_bridge import WSGIBridge


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello from {os.getpid()}".encode()]


def request(bridge):
    """One GET through the bridge; returns (status, body)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"", "headers": [],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5555), "scheme": "http", "http_version": "1.1",
             "root_path": ""}
    asyncio.run(asyncio.wait_for(bridge(scope, receive, send), timeout=5))
    return sent[0]["status"], sent[1]["body"]


def test_a_forked_child_serves_through_the_bridge_its_parent_used():
    bridge = WSGIBridge(hello, threads=2)
    assert request(bridge) == (200, f"hello from {os.getpid()}".encode())  # the parent's pool has threads now
    child = os.fork()
    if child == 0:  # the child: answers, or exits 1 on the timeout
        try:
            status, body = request(bridge)
            os._exit(0 if (status, body) == (200, f"hello from {os.getpid()}".encode()) else 2)
        except BaseException:
            os._exit(1)
    for _ in range(100):
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
        asyncio.run(asyncio.sleep(0.1))
    else:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        raise AssertionError("the forked child's request never finished")
    assert os.waitstatus_to_exitcode(status) == 0
