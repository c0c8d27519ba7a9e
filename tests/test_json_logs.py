"""JSON logs, one object per line on stdout, from the three kinds of process production runs: a real
Daphne (web), a real Celery worker and a real Celery beat, each started with LOG_FORMAT=json.

What Promtail → Loki rely on: every line parses; a request's lines carry its request id (the one in
its X-Request-ID header), its team and token (by name and prefix — never the token itself) and the
workflow / execution it was about; a task's lines carry the task's name and id."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from daphne_server import DaphneServer, database_url
from monitoring import request_context
from monitoring.models import ServiceToken, Team
from tests.celery_pools import beat_only_broker, flush_beat_only_broker

ROOT = Path(__file__).resolve().parent.parent
TEAM = "jsonlogs"
# A real task that writes nothing here (no n8n instance exists): the worker runs it on the shared
# test database, outside any test's transaction (the retention task left RetentionRun rows that
# later tests counted).
HARMLESS_TASK = "n8n_mirror.tasks.sync_due_instances"
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    # Committed, so the servers (other processes) read them; removed afterwards, not flushed (a flush
    # would take the migrations' beat schedules from the tests after this module).
    with django_db_blocker.unblock():
        team = Team.objects.create(slug=TEAM, name="JSON logs")
        token, raw = ServiceToken.issue(team, "json-ci")
        world = {"token": raw, "prefix": token.prefix, "database_url": database_url(connection.settings_dict)}
    yield world
    with django_db_blocker.unblock():
        Team.objects.filter(slug=TEAM).delete()


def env_for(world, **extra):
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": world["database_url"],
            "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
            "FLOWTOWER_WORKER_METRICS_PORT": "0", **extra}  # no metrics port: other workers may hold it


# The one plain-text line left: Celery's signal handler writes it straight to stdout's file
# descriptor (celery.apps.worker.safe_say), past logging, when the worker is stopped.
CELERY_RAW_LINES = {"worker: Warm shutdown (MainProcess)"}


def json_lines(text):
    """Every non-empty line as a JSON object; a line that is not one fails the test, naming it."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line in CELERY_RAW_LINES:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line!r}\n--- whole output ---\n{text}")
        assert isinstance(record, dict), line
        for field in ("time", "level", "logger", "message"):
            assert field in record, f"no {field} in {line}"
        records.append(record)
    return records


def test_web_lines_carry_the_request_id_team_and_token_prefix_never_the_token(world):
    # -v 0: as production runs it (docs/health-and-logs.md), without Daphne's own plain-text access
    # log on stdout (Flowtower writes a JSON access line per request instead).
    auth = {"Authorization": f"Bearer {world['token']}"}
    with DaphneServer(env=env_for(world), daphne_args=["-v", "0"]) as server:
        answer = None
        deadline = time.monotonic() + 30
        while answer is None:
            try:
                answer = requests.post(
                    server.url + "/api/v1/logs/",
                    json={"workflow_id": "wf-json", "execution_id": "ex-json-1", "log_level": "info",
                          "message": "hello"},
                    headers=auth, timeout=15,
                )
            except requests.ConnectionError:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.2)
        assert answer.status_code == 201, answer.text
        listed = requests.get(server.url + "/api/v1/executions/", params={"workflow_id": "wf-json"}, headers=auth,
                              timeout=15).json()["results"]
        detail = requests.get(f"{server.url}/api/v1/executions/{listed[0]['id']}/", headers=auth, timeout=15)
        assert detail.status_code == 200, detail.text
        not_found = requests.get(server.url + "/api/v1/no-such-thing", headers=auth, timeout=15)
        time.sleep(0.5)
    output = server.log()
    records = json_lines(output)
    assert world["token"] not in output

    request_id = answer.headers["X-Request-ID"]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine, output
    access = [r for r in mine if r["logger"] == "flowtower.access"]
    assert len(access) == 1, mine
    line = access[0]
    assert line["level"] == "INFO"
    assert line["status"] == 201 and line["method"] == "POST" and line["path"] == "/api/v1/logs/"
    assert line["team"] == TEAM
    assert line["token"] == f"json-ci ({world['prefix']}…)"
    assert line["workflow_id"] == "wf-json" and line["execution_id"] == "ex-json-1"

    # A REST view of one execution: its lines name it (ids as the API shows them).
    viewed = [r for r in records if r.get("request_id") == detail.headers["X-Request-ID"]]
    named = [(r["workflow_id"], r["execution_id"], r["team"]) for r in viewed]
    assert named == [("wf-json", "ex-json-1", TEAM)], viewed

    # Another request's lines (Django's own warning of the 404 too) carry that request's id, and
    # nothing bound for the first one.
    other = [r for r in records if r.get("request_id") == not_found.headers["X-Request-ID"]]
    assert {r["logger"] for r in other} >= {"flowtower.access", "django.request"}, other
    assert all(r.get("level") == "WARNING" and "workflow_id" not in r for r in other)


def run_celery(world, args, seconds=None, until=None, timeout=60, env=None):
    """Start `celery -A config -q <args>` with JSON logs; stop it after `seconds`, or once its stdout
    holds `until`. Returns (stdout, stderr)."""
    out = tempfile.NamedTemporaryFile(prefix="celery-", suffix=".out", delete=False)
    err = tempfile.NamedTemporaryFile(prefix="celery-", suffix=".err", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "-q", *args], cwd=ROOT,
                            env=env or env_for(world), stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + (seconds if seconds is not None else timeout)
        while time.monotonic() < deadline and proc.poll() is None:
            if until is not None and until(Path(out.name).read_text(errors="replace")):
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(20)
    return Path(out.name).read_text(errors="replace"), Path(err.name).read_text(errors="replace")


def test_worker_lines_carry_the_task_name_and_id_and_the_sending_request_s_id(world):
    from config.celery import app

    app.control.purge()  # nothing left from another test for this worker
    with request_context.request_scope(request_context.RequestContext(request_id="req-sent-from-a-test")):
        sent = app.send_task(HARMLESS_TASK)
    out, err = run_celery(
        world, ["worker", "--pool=solo", "-n", f"jsonlogs-{os.getpid()}@%h", "--without-mingle", "--without-gossip"],
        until=lambda text: "succeeded" in text,
    )
    records = json_lines(out)
    assert records, err
    task_lines = [r for r in records if r.get("task_id") == sent.id]
    assert task_lines, out + err
    assert all(r["task"] == HARMLESS_TASK for r in task_lines)
    assert any("succeeded" in r["message"] for r in task_lines), task_lines
    assert all(r["request_id"] == "req-sent-from-a-test" for r in task_lines), task_lines
    # Celery's own lines go through the same handler: JSON, not Celery's "[time: LEVEL/...]" format.
    assert any(r["logger"].startswith("celery") for r in records)


def test_beat_lines_are_json(world):
    with tempfile.TemporaryDirectory() as workdir:
        out, err = run_celery(world, ["beat", "--pidfile", str(Path(workdir) / "beat.pid")], seconds=4,
                              env=env_for(world, CELERY_BROKER_URL=beat_only_broker()))
    flush_beat_only_broker()  # what beat sent is no test's business
    records = json_lines(out)
    assert any(r["logger"].startswith("celery.beat") for r in records), out + err


def test_without_log_level_celery_s_own_loglevel_applies(world):
    """`make run` starts its worker with --loglevel=WARNING: without LOG_LEVEL in the environment,
    that level holds (LOG_LEVEL, when set, wins)."""
    from config.celery import app

    env = env_for(world)
    del env["LOG_LEVEL"]
    sent = app.send_task(HARMLESS_TASK)
    out, err = run_celery(world, ["worker", "--pool=solo", "-n", f"jsonlogs-quiet-{os.getpid()}@%h", "--without-mingle",
                                  "--without-gossip", "--loglevel=WARNING"], seconds=8, env=env)
    app.control.purge()
    # (Django's set-up, before Celery's, still logs at LOG_LEVEL's default: axes' start line.)
    assert not [r for r in json_lines(out) if r["level"] in ("DEBUG", "INFO") and r["logger"] != "axes.apps"], out
    assert sent.id not in out
