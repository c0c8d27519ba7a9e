"""Connecting and syncing n8n without a browser: `add_n8n_instance` stores an instance (its key or
database encrypted) and refuses incomplete or ambiguous input; `sync_n8n` mirrors one instance
or all, again from the first execution with --full, and fails loudly when n8n cannot be read.
`add_n8n_instance --update` is idempotent (what `make run` relies on); `sync_n8n --every` keeps
syncing in its own process, a failed pass printed and the loop going on, until stopped."""

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from test_n8n_api_reader import KEY, FakeN8n

from monitoring.models import Execution, ExecutionLog, ServiceToken
from n8n_mirror.models import N8nInstance

SQLITE = Path(__file__).parent / "fixtures" / "n8n" / "n8n-1.123.81.sqlite"


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def n8n_file(tmp_path):
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    return copy


@pytest.mark.django_db
def test_adds_an_api_instance_with_its_key_encrypted(team):
    out = _run("add_n8n_instance", "prod", "--team", "acme", "--api-url", "https://n8n.example.com",
               "--api-key", "n8n_api_secret_key_1234")
    instance = N8nInstance.objects.get(team=team, name="prod")
    assert (instance.kind, instance.api_url, instance.interval_seconds) == ("api", "https://n8n.example.com", 30)
    assert "n8n_api_secret_key_1234" not in instance.secrets
    assert instance.get_secrets() == {"api_key": "n8n_api_secret_key_1234"}
    assert "n8n_api_secret_key_1234" not in out and "sync_n8n --instance prod" in out


@pytest.mark.django_db
def test_adds_a_database_instance_with_a_table_prefix(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--table-prefix", "n8n_")
    instance = N8nInstance.objects.get(team=team, name="local")
    assert (instance.kind, instance.table_prefix) == ("database", "n8n_")
    assert instance.get_secrets() == {"database_url": str(n8n_file)}


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--team", "nope", "--database", "x.sqlite"], "No team 'nope'"),
    (["--team", "acme"], "either --api-url and --api-key, or --database"),
    (["--team", "acme", "--database", "x.sqlite", "--api-url", "https://n8n.example.com", "--api-key", "k"],
     "either --api-url and --api-key, or --database"),
    (["--team", "acme", "--api-key", "k"], "--api-key needs --api-url"),
    (["--team", "acme", "--api-url", "ftp://n8n.example.com", "--api-key", "k"], "not an http(s) URL"),
    (["--team", "acme", "--database", "x.sqlite", "--interval", "1"], "at least 5 seconds"),
])
def test_refuses_incomplete_or_ambiguous_input(team, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run("add_n8n_instance", "prod", *args)
    assert not N8nInstance.objects.exists()


@pytest.mark.django_db
def test_refuses_a_second_instance_of_the_same_name(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    with pytest.raises(CommandError, match="already has an n8n instance named 'local'"):
        _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_mirrors_and_full_adds_nothing(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    out = _run("sync_n8n", "--instance", "local")
    assert "acme/local: 8 workflows, 30 executions read; 30 mirrored in all" in out
    assert Execution.objects.filter(workflow__team=team).count() == 30
    out = _run("sync_n8n", "--full")
    assert "30 executions read; 30 mirrored in all" in out
    assert Execution.objects.filter(workflow__team=team).count() == 30


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_fails_loudly_when_n8n_cannot_be_read(team, tmp_path):
    _run("add_n8n_instance", "gone", "--team", "acme", "--database", str(tmp_path / "missing.sqlite"))
    with pytest.raises(CommandError, match="1 instance"):
        _run("sync_n8n", "--instance", "gone")
    assert N8nInstance.objects.get(name="gone").last_error


@pytest.mark.django_db
def test_sync_n8n_names_an_unknown_instance(team):
    with pytest.raises(CommandError, match="No n8n instance named 'nope'"):
        _run("sync_n8n", "--instance", "nope")


# --- add_n8n_instance --update: what `make run` calls every time it starts --------------------

@pytest.mark.django_db
def test_update_changes_an_existing_instance_and_keeps_where_its_mirror_stands(team, n8n_file):
    _run("add_n8n_instance", "local n8n", "--team", "acme", "--api-url", "http://127.0.0.1:5678",
         "--api-key", "first-key", "--update")
    N8nInstance.objects.filter(name="local n8n").update(cursor="12", executions_mirrored=12, interval_seconds=60)
    out = _run("add_n8n_instance", "local n8n", "--team", "acme", "--api-url", "http://127.0.0.1:5679",
               "--api-key", "second-key", "--update")
    instance = N8nInstance.objects.get(team=team, name="local n8n")
    assert N8nInstance.objects.count() == 1 and "(updated)" in out
    assert (instance.api_url, instance.get_secrets()) == ("http://127.0.0.1:5679", {"api_key": "second-key"})
    assert (instance.cursor, instance.executions_mirrored, instance.interval_seconds) == ("12", 12, 60)
    # From the API to n8n's database: the key goes, the database location comes.
    _run("add_n8n_instance", "local n8n", "--team", "acme", "--database", str(n8n_file), "--table-prefix", "n8n_",
         "--update")
    instance.refresh_from_db()
    assert (instance.kind, instance.table_prefix) == ("database", "n8n_")
    assert instance.get_secrets() == {"database_url": str(n8n_file)}
    # Still checked like a new instance.
    with pytest.raises(CommandError, match="either --api-url and --api-key, or --database"):
        _run("add_n8n_instance", "local n8n", "--team", "acme", "--update")


# --- sync_n8n --every: the loop `make run` starts when there is no Celery beat ------------------

def _loop(log, *args):
    """`manage.py sync_n8n --every …` as its own process, on the test database; its output a
    pipe, its log (stderr) the file `log`."""
    from daphne_server import ROOT, database_url
    from django.db import connection

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "PYTHONUNBUFFERED": "1",
           "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"}
    with open(log, "w") as stderr:
        return subprocess.Popen([sys.executable, "manage.py", "sync_n8n", *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=stderr)


def _read_lines(process, count, timeout=60):
    """The process's next `count` output lines, or fail after `timeout` seconds."""
    lines, deadline = [], time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and selector.select(remaining), f"only {lines} after {timeout} s"
            line = process.stdout.readline()
            assert line, f"sync_n8n exited ({process.wait()}) after {lines}"
            if not _is_log_record(line):  # log records may share stdout (JSON logs to stdout)
                lines.append(line.rstrip("\n"))
    return lines


def _is_log_record(line):
    """A line of Flowtower's log (LOG_FORMAT=json, as the loop is run here), not the command's output."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "level" in record


def _stop(process, sig):
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=30)
    return process.returncode, rest


@pytest.fixture
def n8n_api(httpserver):
    fake = FakeN8n()
    httpserver.expect_request("/api/v1/workflows").respond_with_handler(fake)
    httpserver.expect_request("/api/v1/executions").respond_with_handler(fake)
    for execution_id in fake.by_id:
        httpserver.expect_request(f"/api/v1/executions/{execution_id}").respond_with_handler(fake)
    fake.url = httpserver.url_for("/")
    return fake


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_every_keeps_mirroring_an_api_instance_once(team, n8n_api, tmp_path):
    _run("add_n8n_instance", "local n8n", "--team", "acme", "--api-url", n8n_api.url, "--api-key", KEY, "--update")
    process = _loop(tmp_path / "log", "--every", "1")
    try:
        lines = _read_lines(process, 2)
    finally:
        returncode, rest = _stop(process, signal.SIGTERM)
    assert lines[0] == "acme/local n8n: 8 workflows, 30 executions read; 30 mirrored in all"
    assert lines[1].startswith("acme/local n8n: 8 workflows,") and lines[1].endswith("; 30 mirrored in all")
    assert sum(1 for path, _ in n8n_api.asked if path == "/api/v1/workflows") >= 2  # two passes
    assert (returncode, rest.strip().splitlines()[-1]) == (0, "sync_n8n stopped.")
    assert "Traceback" not in (tmp_path / "log").read_text()
    executions = Execution.objects.filter(workflow__team=team)
    assert executions.count() == 30 and len({e.external_id for e in executions}) == 30
    # The waiting execution read again on the second pass did not gain doubled logs.
    assert not ExecutionLog.objects.values("execution", "step_number").annotate(n=Count("id")).filter(n__gt=1)


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_every_prints_a_failed_pass_and_goes_on(team, tmp_path):
    later = tmp_path / "n8n.sqlite"
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(later))
    process = _loop(tmp_path / "log", "--every", "1", "--instance", "local")
    try:
        failed = _read_lines(process, 2)  # the instance's error, then the pass's
        shutil.copy(SQLITE, later)  # n8n has started meanwhile
        lines = _read_lines(process, 1)
        while "mirrored in all" not in lines[-1]:
            lines += _read_lines(process, 1)
    finally:
        returncode, rest = _stop(process, signal.SIGINT)  # Ctrl-C
    assert "does not exist" in failed[0] and failed[1] == "sync pass failed: 1 instance(s) could not be synced."
    assert lines[-1] == "acme/local: 8 workflows, 30 executions read; 30 mirrored in all"
    assert returncode == 0 and rest.strip().endswith("sync_n8n stopped.")
    assert "Traceback" not in (tmp_path / "log").read_text()
    assert Execution.objects.filter(workflow__team=team).count() == 30


def test_sync_n8n_every_wants_at_least_a_second():
    with pytest.raises(CommandError, match="at least 1 second"):
        _run("sync_n8n", "--every", "0.5")


@pytest.mark.django_db
def test_hook_token_is_the_instances_own_and_again_replaces_it(team, n8n_file):
    out = _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    instance = N8nInstance.objects.get(team=team, name="local")
    first = instance.hook_token
    assert first.name == "n8n hook: local" and first.team == team and first.is_active
    assert f"FLOWTOWER_HOOK_TOKEN={first.prefix}" in out and "shown only now" in out
    out = _run("add_n8n_instance", "local", "--team", "acme", "--hook-token")  # e.g. the token leaked
    instance.refresh_from_db()
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert instance.hook_token != first and instance.hook_token.is_active
    assert f"FLOWTOWER_HOOK_TOKEN={instance.hook_token.prefix}" in out
    assert ServiceToken.objects.filter(name="n8n hook: local", revoked_at__isnull=True).count() == 1
    assert N8nInstance.objects.filter(team=team).count() == 1


@pytest.mark.django_db
def test_hook_token_with_other_options_on_an_existing_instance_is_still_refused(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    with pytest.raises(CommandError, match="already has an n8n instance named 'local'"):
        _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    assert N8nInstance.objects.get(name="local").hook_token is None


@pytest.mark.django_db
def test_deleting_an_instance_revokes_its_hook_token(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    token = N8nInstance.objects.get(name="local").hook_token
    N8nInstance.objects.get(name="local").delete()
    token.refresh_from_db()
    assert token.revoked_at is not None
