"""HTTP under the ASGI server through Django's WSGI handler, in a pool of threads: one hop from the
event loop to a thread and one back per request.

Django's own ASGI handler runs a sync project (every view here is sync: DRF, the admin, the pages)
with more hand-offs: the request to a thread for the middleware chain, back to the event loop for
the view's adapter, to a thread again for the view, and the response back, each a future, a wake-up
of the loop and the GIL passed between threads. Measured under wrk on single-log POSTs (docs/
serving.md) that was about a third of the server's CPU per request. Here the body is read in the
event loop (spooled to disk past FILE_UPLOAD_MAX_MEMORY_SIZE, as Django's ASGI handler does), the
whole WSGI call — middleware, view, the response's content and close(), which returns the database
connection — runs in one pool thread, and the response is sent from the loop. Websockets do not
pass through here (config.asgi routes them to Channels).

Responses are sent whole once the view has produced them: no view here streams (a streaming one
would be buffered, not broken)."""

import asyncio
import os
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from .http_limits import REQUEST_LINE_TOO_LONG

HTTP_LINE_LIMIT = 16384  # bytes of a request line (path and query) or of one header's value


class WSGIBridge:
    def __init__(self, wsgi_application, threads: int):
        self.application = wsgi_application
        # Threads wait on PostgreSQL and Redis most of the time: a few per core keep the CPU busy;
        # more only queue on the database pool (DB_POOL_MAX_SIZE).
        self.threads = threads
        self._executor, self._executor_pid = None, None

    @property
    def executor(self):
        """This process's request threads, made on first use. A pool does not survive a fork: a
        child (a forking server, a test's live server) inherits one that believes its threads are
        idle, though none runs there, and every request would wait forever on its queue."""
        if self._executor_pid != os.getpid():
            self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="http")
            self._executor_pid = os.getpid()
        return self._executor

    async def __call__(self, scope, receive, send):
        if _too_long(scope):
            return await _refuse_too_long(send)
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its body
        try:
            status, headers, content = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._respond, _environ(scope, body))
        finally:
            body.close()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _respond(self, environ):
        """The whole WSGI exchange, in one thread: Django's connections are per thread, and
        close() (request_finished) must run where the request did."""
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]

        result = self.application(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return started["status"], started["headers"], content


def _too_long(scope):
    """The limit Daphne enforced and the API documents (docs/monitoring-endpoint.md: 414 over
    16 KB); uvicorn itself accepts request lines several times longer."""
    line = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    return line > HTTP_LINE_LIMIT or any(len(value) > HTTP_LINE_LIMIT for _, value in scope.get("headers", []))


async def _refuse_too_long(send):
    status, _, message = REQUEST_LINE_TOO_LONG
    body = json.dumps({"success": False, "error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive):
    """The request body as a file, or None if the client disconnected first."""
    body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.close()
            return None
        body.write(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body.seek(0)
    return body


def _size(body):
    body.seek(0, 2)
    size = body.tell()
    body.seek(0)
    return size


def _environ(scope, body):
    """PEP 3333's environ from an ASGI HTTP scope (paths as latin-1 text of their UTF-8 bytes)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE" or name == "CONTENT_LENGTH":
            key = name
        else:
            key = f"HTTP_{name}"
        if key in environ:  # a repeated header: one value, as HTTP/1.1 folds them (cookies by "; ")
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    # The body is read whole: its length, whatever the client said (chunked bodies have none).
    environ["CONTENT_LENGTH"] = str(_size(body))
    return environ

