"""The Celery worker's own /metrics: a small HTTP server in a thread of the worker's main
process, started on worker_ready (FLOWTOWER_WORKER_METRICS_PORT, 0: none), behind the same access
rule as the web /metrics. It exports the worker's counters (with PROMETHEUS_MULTIPROC_DIR, every
prefork child's); the gauges read at scrape time are the web's."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import access
from .registry import export_registry, multiprocess_dir

logger = logging.getLogger(__name__)


class MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] not in ("/metrics", "/metrics/"):
            return self._answer(404, b'{"detail": "Not found: metrics are at /metrics."}', "application/json")
        refusal = access.denied(self.client_address[0], self.headers.get("Authorization", ""))
        if refusal is not None:
            extra = {"WWW-Authenticate": 'Bearer realm="metrics"'} if refusal.status == 401 else {}
            return self._answer(refusal.status, json.dumps({"detail": refusal.detail}).encode(), "application/json",
                                extra)
        return self._answer(200, generate_latest(export_registry(scrape=False)), CONTENT_TYPE_LATEST)

    def _answer(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # one line per scrape would drown the worker's log
        pass


def start_worker_server(port, address="0.0.0.0"):
    """Serve metrics on `port` in a daemon thread; returns the server, or None when port is 0."""
    if not port:
        return None
    if not multiprocess_dir():
        logger.warning("PROMETHEUS_MULTIPROC_DIR is not set: the worker's metrics port reports its main "
                       "process only (task metrics of prefork children are missing; --pool=solo or threads "
                       "report them)")
    try:
        server = ThreadingHTTPServer((address, port), MetricsHandler)
    except OSError as error:  # the port is taken (a second worker on this host): the worker still works
        logger.error("worker metrics not served: cannot listen on %s:%s (%s); set FLOWTOWER_WORKER_METRICS_PORT",
                     address, port, error)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="flowtower-metrics", daemon=True).start()
    logger.info("worker metrics on %s:%s/metrics", address, port)
    return server
