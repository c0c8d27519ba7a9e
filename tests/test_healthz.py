"""GET /healthz: JSON for probes, 200 "ok"/"degraded", 503 "down" — with the real PostgreSQL and
Redis, a private redis-server and PostgreSQL cluster stopped to make them fail (tests/fault/servers.py),
a real Daphne, and a real Celery worker started and stopped."""

import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from daphne_server import DaphneServer, database_url
from fault.servers import PostgresServer, RedisServer
from monitoring.health import checks
from n8n_mirror.models import N8nInstance
from tests.celery_pools import beat_only_broker, flush_beat_only_broker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_worker_answer():
    checks.forget_worker_ping()
    yield
    checks.forget_worker_ping()


def beat_ran(ago):
    """As if beat last sent its interval tasks `ago` before now. Makes sure there is one: a
    transactional test run earlier flushes the schedules the migrations create."""
    from django_celery_beat.models import IntervalSchedule

    if not PeriodicTask.objects.filter(enabled=True, interval__isnull=False).exists():
        every_5s, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(name="healthz test: beat freshness", task="n8n_mirror.tasks.sync_due_instances",
                                    interval=every_5s, enabled=True)
    PeriodicTask.objects.filter(enabled=True, interval__isnull=False).update(last_run_at=timezone.now() - ago)


def healthz(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthy_with_the_real_database_redis_and_channel_layer(db, client):
    beat_ran(timedelta(seconds=5))
    status, body = healthz(client)
    assert status == 200
    for name in ("database", "redis", "channel_layer", "celery_beat"):
        assert body["checks"][name]["ok"] is True, body
    assert body["checks"]["database"]["critical"] is True
    # No worker runs in this test: answered, not down.
    assert body["checks"]["celery_workers"]["ok"] is False
    assert body["status"] == "degraded"
    assert client.get("/healthz")["Cache-Control"].startswith("max-age=0")


def test_beat_that_has_not_sent_a_task_for_3_minutes_is_stale(db, client):
    beat_ran(timedelta(minutes=4))
    status, body = healthz(client)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["celery_beat"]["ok"] is False
    assert "stale" in body["checks"]["celery_beat"]["detail"]
    beat_ran(timedelta(minutes=2))
    assert healthz(client)[1]["checks"]["celery_beat"]["ok"] is True


def test_failing_n8n_instances_are_counted_without_naming_them(db, client, team):
    beat_ran(timedelta(seconds=5))
    N8nInstance.objects.create(team=team, name="secret-prod-n8n", failing_since=timezone.now())
    N8nInstance.objects.create(team=team, name="fine-n8n")
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["n8n_sync"] == {
        "ok": False, "detail": "1 of 2 enabled n8n instance(s) failing to sync", "failing": 1, "total": 2,
        "critical": False,
    }
    assert b"secret-prod-n8n" not in response.content and team.slug.encode() not in response.content


@pytest.fixture
def private_redis():
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def test_redis_down_is_503_naming_redis(db, client, settings, private_redis):
    beat_ran(timedelta(seconds=5))
    settings.REDIS_URL = private_redis.url(0)
    hosts = [{"address": private_redis.url(0), "socket_timeout": 2}]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}}
    status, body = healthz(client)
    assert body["checks"]["redis"]["ok"] is True and body["checks"]["channel_layer"]["ok"] is True, body

    private_redis.stop()
    started = time.monotonic()
    status, body = healthz(client)
    assert time.monotonic() - started < 8
    assert status == 503
    assert body["status"] == "down"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "127.0.0.1" not in str(body), "addresses stay in the log"


def test_database_down_is_a_json_503_from_a_real_server(db):
    """Daphne serving Flowtower on a private PostgreSQL cluster that is stopped: /healthz still
    answers, quickly, with JSON (never Django's HTML error page)."""
    with tempfile.TemporaryDirectory() as workdir:
        pg = PostgresServer(workdir)
        pg.start()
        server = None
        try:
            pg.create_database("flowtower")
            server = DaphneServer(env={"DATABASE_URL": pg.url("flowtower"), "DB_POOL_TIMEOUT": "5"}).start()
            answer = _get_json(server.url + "/healthz")
            checked = answer.json()["checks"]
            assert checked["database"]["ok"] and checked["redis"]["ok"] and checked["channel_layer"]["ok"], answer.text

            pg.stop()
            started = time.monotonic()
            answer = _get_json(server.url + "/healthz")
            assert time.monotonic() - started < 8
            assert answer.status_code == 503
            body = answer.json()
            assert body["status"] == "down"
            assert body["checks"]["database"]["ok"] is False
            assert body["checks"]["redis"]["ok"] is True
            # What needs the database is not tried again (one timeout per probe, not one per check).
            assert body["checks"]["celery_beat"]["detail"] == "not checked: database failing"
            assert "Traceback" not in answer.text
        finally:
            if server is not None:
                server.stop()
            pg.stop()


def _get_json(url):
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = requests.get(url, timeout=15)
            assert answer.headers["Content-Type"] == "application/json", answer.text[:500]
            return answer
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def celery_worker():
    """A real worker on the tests' Redis broker: start() it, stop() it."""
    log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
    procs = []

    def start():
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", f"healthz-{os.getpid()}@%h",
             "--without-mingle", "--without-gossip", "-l", "INFO"],
            cwd=ROOT, env={**os.environ, "FLOWTOWER_WORKER_METRICS_PORT": "0"}, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    def stop():
        for proc in procs:
            proc.terminate()
            proc.wait(20)

    yield start, stop, Path(log.name)
    stop()


def test_worker_reachability_follows_a_real_worker(db, client, celery_worker):
    start, stop, log = celery_worker
    beat_ran(timedelta(seconds=5))
    assert healthz(client)[1]["checks"]["celery_workers"]["ok"] is False

    start()
    deadline = time.monotonic() + 60
    while True:
        checks.forget_worker_ping()
        status, body = healthz(client)
        if body["checks"]["celery_workers"]["ok"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["checks"]["celery_workers"] == {"ok": True, "detail": "1 worker(s) answered a ping", "workers": 1,
                                                 "critical": False}, log.read_text()
    assert status == 200 and body["status"] == "ok", body

    # Remembered for a few seconds: a probe right after costs no second ping.
    started = time.monotonic()
    healthz(client)
    assert time.monotonic() - started < checks.WORKER_PING_TIMEOUT

    stop()
    checks.forget_worker_ping()
    status, body = healthz(client)
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["celery_workers"]["ok"] is False


def test_a_host_not_allowed_is_a_json_400_too(db, client):
    """A probe configured with a host name Django does not serve gets JSON saying so, not an HTML page."""
    response = client.get("/healthz", HTTP_HOST="not-allowed.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False and response.json()["request_id"]


@pytest.mark.django_db(transaction=True)
def test_a_running_beat_is_fresh_within_seconds():
    """A real `celery beat` started on a database where beat last ran 10 minutes ago: the first
    task it sends is written at once (CELERY_BEAT_SYNC_EVERY), so /healthz sees it running."""
    beat_ran(timedelta(minutes=10))  # committed: the beat process reads and writes these rows
    assert checks.celery_beat()["ok"] is False
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
           "CELERY_BROKER_URL": beat_only_broker()}  # what it sends must reach no test's worker
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "-q", "beat", "--pidfile", f"{workdir}/beat.pid"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not checks.celery_beat()["ok"] and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.5)
            result = checks.celery_beat()
        finally:
            proc.terminate()
            output = proc.communicate(timeout=20)[0]
    flush_beat_only_broker()
    assert result["ok"] is True, output
    assert result["last_run_seconds_ago"] < 30
