"""The README's way for a super admin to delete old data over HTTP works as written: its shell
snippet is run with the real curl against a live server (sign in, then DELETE with the session and
CSRF token), while HTTP basic auth (`curl -u`, the example it replaces) is refused."""

import json
import re
import shlex
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from monitoring.ingest import ingest
from monitoring.models import ExecutionLog
from monitoring.schemas import validate_records

README = Path(__file__).resolve().parent.parent / "README.md"
PASSWORD = "pw-not-used-1234"  # what conftest's make_user gives everyone

pytestmark = pytest.mark.django_db(transaction=True)


def seed_old_logs(team, age_days=100, n=3):
    logs = [{"workflow_id": "wf-1", "execution_id": "e-old", "log_level": "info", "message": f"m{i}"} for i in range(n)]
    ingest(team, {"log": validate_records("log", logs)[0]})
    ExecutionLog.objects.update(timestamp=timezone.now() - timedelta(days=age_days))


def readme_snippet():
    """The README's shell block that signs in and sends the DELETE."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if "/login/" in b and "-X DELETE" in b]
    assert len(found) == 1, "the README's sign-in-and-DELETE example is missing"
    return found[0]


def run_snippet(base_url, password, dry_run=True):
    lines = readme_snippet().splitlines()
    assert lines[0].startswith("BASE=")
    script = "\n".join([f"BASE={shlex.quote(base_url)} PASSWORD={shlex.quote(password)}", *lines[1:]])
    if not dry_run:
        script = script.replace("&dry_run=true", "")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def server(live_server, settings):
    # The demo and this test speak plain HTTP; in production (HTTPS) the cookies stay Secure.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    return live_server.url


def test_the_readme_example_deletes_as_a_signed_in_super_admin(server, team, make_user):
    make_user("admin", superuser=True)
    seed_old_logs(team)
    logs = ExecutionLog.objects.count()

    answer = run_snippet(server, PASSWORD)
    assert answer["success"] is True and answer["data"]["dry_run"] is True
    assert answer["data"]["deleted"]["logs"] == logs
    assert ExecutionLog.objects.count() == logs

    answer = run_snippet(server, PASSWORD, dry_run=False)
    assert answer["data"]["dry_run"] is False and answer["data"]["deleted"]["logs"] == logs
    assert ExecutionLog.objects.count() == 0


def test_the_example_as_a_team_admin_is_refused(server, team, make_user):
    make_user("admin", team, "admin")  # named admin, but a team's admin, not a super admin
    seed_old_logs(team)
    answer = run_snippet(server, PASSWORD, dry_run=False)
    assert answer["success"] is False and "super admin" in answer["error"].lower()
    assert ExecutionLog.objects.exists()


def test_basic_auth_is_not_accepted(server, team, make_user):
    make_user("admin", superuser=True)
    seed_old_logs(team)
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"admin:{PASSWORD}",
                           "-X", "DELETE", f"{server}/api/workflows/monitoring?retention_days=90"],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout == "401"
    assert ExecutionLog.objects.exists()
