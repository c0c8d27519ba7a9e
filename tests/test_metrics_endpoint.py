"""Who may read metrics: GET /metrics (web) and the Celery worker's metrics port follow one rule —
a bearer token (FLOWTOWER_METRICS_TOKEN) and/or allowed networks (FLOWTOWER_METRICS_ALLOWED_NETWORKS);
with neither set, nobody. Bad settings stop the process at start-up."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from monitoring.metrics.server import start_worker_server
from tests.daphne_server import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-0123456789abcdef"

pytestmark = pytest.mark.django_db


def get(headers=None, remote="127.0.0.1"):
    return Client(REMOTE_ADDR=remote).get("/metrics", headers=headers or {})


def test_with_neither_token_nor_networks_metrics_are_closed(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = "", []
    response = get(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 403
    assert "FLOWTOWER_METRICS_TOKEN" in response.json()["detail"]


def test_the_token_is_required_and_checked(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = TOKEN, []
    missing = get()
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert get(headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert get(headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    ok = get(headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=")
    assert ok["Cache-Control"] == "no-store"
    text = ok.content.decode()
    # django-prometheus' request metrics and Flowtower's own, in one export.
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in text
    assert "# TYPE flowtower_ingested_records_total counter" in text


def test_allowed_networks_alone_admit_their_addresses_only(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8", "fd00::/8"]
    assert get(remote="10.1.2.3").status_code == 200
    assert get(remote="fd00::5").status_code == 200
    assert get(remote="::ffff:10.1.2.3").status_code == 200  # an IPv4 client seen on a dual-stack socket
    refused = get(remote="192.168.1.9")
    assert refused.status_code == 403
    assert "FLOWTOWER_METRICS_ALLOWED_NETWORKS" in refused.json()["detail"]
    # A forwarded header names whatever the client likes: only the connection's address counts.
    assert get(remote="192.168.1.9", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403


def test_with_both_set_a_request_needs_both(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = TOKEN, ["127.0.0.0/8"]
    assert get(remote="127.0.0.1").status_code == 401
    assert get(remote="10.0.0.1", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
    assert get(remote="127.0.0.1", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_only_get(settings):
    settings.FLOWTOWER_METRICS_TOKEN = TOKEN
    assert Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


def _worker_get(port, token=None, path="/metrics"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_worker_port_follows_the_same_rule(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = TOKEN, []
    port = free_port()
    server = start_worker_server(port, "127.0.0.1")
    try:
        assert _worker_get(port)[0] == 401
        assert _worker_get(port, "wrong-token-0123456789")[0] == 401
        status, text = _worker_get(port, TOKEN)
        assert status == 200 and "flowtower_celery_tasks_total" in text
        assert "flowtower_alerts_open" not in text  # gauges read at scrape time are the web's
        assert _worker_get(port, TOKEN, "/other")[0] == 404
        settings.FLOWTOWER_METRICS_TOKEN = ""
        assert _worker_get(port, TOKEN)[0] == 403
    finally:
        server.shutdown()
        server.server_close()


def test_port_zero_starts_no_server():
    assert start_worker_server(0) is None


def test_a_taken_port_is_logged_and_the_worker_goes_on(caplog):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert start_worker_server(taken.getsockname()[1], "127.0.0.1") is None
    assert "worker metrics not served" in caplog.text


def _start(**env):
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    base.update(env, DJANGO_SETTINGS_MODULE="config.settings_test")
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("name, value, message", [
    ("FLOWTOWER_METRICS_TOKEN", "short", "at least 16 characters"),
    ("FLOWTOWER_METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network", "'not-a-network' is not a network"),
    ("FLOWTOWER_METRICS_MAX_WORKFLOWS", "-1", "0 or more"),
    ("FLOWTOWER_METRICS_MAX_WORKFLOWS", "many", "invalid literal"),
    ("FLOWTOWER_WORKER_METRICS_PORT", "70000", "port number"),
])
def test_bad_settings_stop_the_process(name, value, message):
    result = _start(**{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_with_the_database_out_of_reach_metrics_still_answer_in_time():
    """Prometheus waits 10 s for a scrape: without PostgreSQL, /metrics answers in a few seconds with
    what does not need it (request metrics, the Redis queue length), leaving the database's gauges out."""
    import time

    from tests.daphne_server import DaphneServer

    closed = free_port()
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/nowhere", "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "FLOWTOWER_METRICS_TOKEN": TOKEN}
    with DaphneServer(env=env) as web:
        request = urllib.request.Request(f"{web.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=15) as response:
            status, text = response.status, response.read().decode()
        took = time.monotonic() - started
    assert status == 200
    assert took < 5, took
    assert "flowtower_celery_queue_length" in text and "django_http_requests_latency_seconds_by_view_method" in text
    assert "flowtower_alerts_open" not in text and "flowtower_n8n_sync_lag_seconds" not in text
