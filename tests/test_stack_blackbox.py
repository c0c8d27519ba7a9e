"""The stack's blackbox exporter modules (deploy/blackbox/blackbox.yml) run by the real exporter
(Debian's prometheus-blackbox-exporter) against a live Flowtower's /healthz (Daphne on the test
database) and against local servers giving its answer as "ok", "degraded" and "down" (503):
http_2xx fails only when Flowtower is down, healthz_ok also when it says "degraded"."""

import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from daphne_server import DaphneServer, database_url, free_port

pytestmark = [pytest.mark.stack_validation, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "blackbox" / "blackbox.yml"
BLACKBOX = shutil.which("prometheus-blackbox-exporter")
needs_blackbox = pytest.mark.skipif(not BLACKBOX, reason="prometheus-blackbox-exporter is not installed "
                                                          "(scripts/ensure_observability_tools.sh)")


@needs_blackbox
def test_the_exporter_accepts_the_modules():
    checked = subprocess.run([BLACKBOX, "--config.check", f"--config.file={CONFIG}"], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "deprecated" not in checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def exporter():
    port = free_port()
    process = subprocess.Popen([BLACKBOX, f"--config.file={CONFIG}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.stdout.read().decode()[-2000:])
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)


def probe(exporter_port, module, target):
    """probe_success of one probe, as Prometheus' blackbox-healthz job asks for it."""
    url = f"http://127.0.0.1:{exporter_port}/probe?module={module}&target={target}"
    with urllib.request.urlopen(url, timeout=15) as answer:
        return float(re.search(r"^probe_success (\S+)$", answer.read().decode(), re.M).group(1))


@pytest.fixture(scope="module")
def flowtower(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with DaphneServer(env={"DATABASE_URL": url}) as daphne:
        yield daphne


def healthz(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Answering(http.server.ThreadingHTTPServer):
    """A local server giving one fixed answer to every GET (Flowtower's /healthz as it would be)."""

    def __init__(self, status, body):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/healthz"


@needs_blackbox
def test_probes_of_a_live_flowtower_and_of_its_answers_ok_degraded_and_down(exporter, flowtower):
    status, body = healthz(f"{flowtower.url}/healthz")
    state = json.loads(body)["status"]
    # Here no Celery worker answers and beat has not run: Flowtower says "degraded", with 200.
    assert status == 200 and state in {"ok", "degraded"}, body
    assert probe(exporter, "http_2xx", f"{flowtower.url}/healthz") == 1
    assert probe(exporter, "healthz_ok", f"{flowtower.url}/healthz") == (1 if state == "ok" else 0)

    # The same JSON, as Flowtower formats it, saying each state with its status code.
    def saying(word):
        return body.replace(f'"status": "{state}"'.encode(), f'"status": "{word}"'.encode(), 1)
    servers = {word: Answering(code, saying(word)) for word, code in (("ok", 200), ("degraded", 200), ("down", 503))}
    try:
        for word, server in servers.items():
            assert json.loads(healthz(server.url)[1])["status"] == word
        assert [probe(exporter, "http_2xx", servers[word].url) for word in ("ok", "degraded", "down")] == [1, 1, 0]
        assert [probe(exporter, "healthz_ok", servers[word].url) for word in ("ok", "degraded", "down")] == [1, 0, 0]
    finally:
        for server in servers.values():
            server.shutdown()
    # Nothing listening: down.
    assert probe(exporter, "http_2xx", f"http://127.0.0.1:{free_port()}/healthz") == 0
