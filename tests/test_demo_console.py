"""The demo console (`make run`): it installs only what running needs, keeps the console quiet so
the passwords and token it printed stay readable, and `make credentials` prints them again."""

import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
RULE = "=" * 72


def banner(text):
    """The credentials block: from the first rule line to the second, inclusive."""
    match = re.search(rf"^{RULE}\n.*?^{RULE}\n", text, re.S | re.M)
    assert match, f"no credentials block in:\n{text}"
    return match.group(0)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_setup_writes_what_it_printed_to_files_only_the_owner_reads(db, tmp_path, capsys, client):
    credentials, token = tmp_path / "demo_credentials", tmp_path / "demo_token"
    credentials.write_text("stale")
    credentials.chmod(0o644)  # an older file with a wider mode is narrowed, not just rewritten
    call_command("demo", "setup", url="http://127.0.0.1:8123", credentials_file=str(credentials),
                 token_file=str(token))
    printed = banner(capsys.readouterr().out)

    assert credentials.read_text() == printed
    assert mode(credentials) == 0o600 and mode(token) == 0o600
    assert "http://127.0.0.1:8123/" in printed and "make credentials" in printed
    password = printed.split("username: member")[1].split("password:")[1].split()[0]
    assert client.post("/login/", {"username": "member", "password": password}).status_code == 302
    assert f"service token for team 'demo': {token.read_text()}" in printed


def test_feed_prints_a_line_per_execution_only_when_asked(db, capsys):
    call_command("demo", "setup")
    capsys.readouterr()
    call_command("demo", "feed", runs=1, pace=0)
    assert capsys.readouterr().out == ""
    call_command("demo", "feed", runs=1, pace=0, verbosity=2)
    assert capsys.readouterr().out.startswith("demo: ")


def make_dry_run(target, tmp_path):
    """The commands `make <target>` would run on a fresh checkout (no virtualenv yet)."""
    done = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}", f"DEMO_DIR={tmp_path / 'var'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_installs_only_what_running_needs(tmp_path):
    run = make_dry_run("run", tmp_path)
    assert re.search(r"pip install --quiet -e \.$", run, re.M), run
    assert "[test]" not in run
    assert "pip install --quiet -e '.[test]'" in make_dry_run("test", tmp_path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError:
        return None  # not listening (yet)


# What runserver prints when it starts, and the demo's alert notifications (its log channel writes
# them to the console: that is where the demo's alerts are "sent"); anything else after the
# credentials is noise.
STARTUP_LINES = re.compile(r"^(|Performing system checks\.\.\.|System check identified no issues.*|"
                           r"\w+ \d+, \d{4} - [\d:]+|Django version .*|Starting ASGI/Daphne .*|"
                           r"Quit the server with CONTROL-C\.|.* changed, reloading\.|"
                           r"[\d-]+ [\d:,]+ WARNING alerts\.notifications .*)$")


@pytest.fixture
def make_run(tmp_path):
    """`make run` as a person starts it (without reinstalling: the virtualenv is the test's), on
    a free port with its own SQLite file and demo directory; stopped (its whole process group)
    at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "REDIS_URL", "LOG_LEVEL", "LOG_FORMAT", "DEBUG") and not k.startswith("DJANGO_")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    log = open(tmp_path / "console.log", "w+")
    process = subprocess.Popen(
        ["make", "-o", ".venv/.installed-run", "run", f"PORT={port}", f"DEMO_DIR={tmp_path / 'var'}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.url, process.demo_dir = f"http://127.0.0.1:{port}", tmp_path / "var"
    process.console = lambda: Path(log.name).read_text()
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_make_run_console_stays_quiet_and_make_credentials_prints_them_again(make_run):
    deadline = time.monotonic() + 180
    while get(make_run.url + "/login/") != 200:
        assert make_run.poll() is None, make_run.console()
        assert time.monotonic() < deadline, make_run.console()
        time.sleep(0.5)
    # A visitor's requests (pages, static files, a missing favicon, an unauthenticated API call),
    # while the demo feed keeps posting executions to the API.
    statuses = [get(make_run.url + path) for path in
                ("/login/", "/static/flowtower/app.css", "/favicon.ico", "/api/v1/logs/", "/login/")]
    assert statuses == [200, 200, 404, 401, 200]
    time.sleep(5)

    console = make_run.console()
    printed = banner(console)
    after = console.split(printed, 1)[1]
    noise = [line for line in after.splitlines() if not STARTUP_LINES.match(line)]
    assert noise == [], console
    assert "Starting ASGI/Daphne" in after  # the server did start and print its own lines

    again = subprocess.run(["make", "-s", "credentials", f"DEMO_DIR={make_run.demo_dir}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and again.stdout == printed
    assert mode(make_run.demo_dir / "demo_credentials") == 0o600 and mode(make_run.demo_dir) == 0o700


def test_make_credentials_before_any_demo_says_what_to_do(tmp_path):
    done = subprocess.run(["make", "-s", "credentials", f"DEMO_DIR={tmp_path}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "make run" in done.stderr
