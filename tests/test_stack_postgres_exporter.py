"""postgres-exporter's role (deploy/postgres/exporter-role.sql, run by compose's db-roles service)
on the real PostgreSQL, and the real exporter (Debian's prometheus-postgres-exporter) connecting
as that role with compose's variables (DATA_SOURCE_URI / _USER / _PASS_FILE): pg_up is 1. The role
reads statistics (pg_monitor), not Flowtower's tables, and the script refuses a missing or short
password."""

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.db import connection

from daphne_server import free_port

pytestmark = [pytest.mark.stack_validation, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "postgres" / "exporter-role.sql"
PSQL = shutil.which("psql")
EXPORTER = shutil.which("prometheus-postgres-exporter")
PASSWORD = "exporter-test-password"


def psql(*args):
    settings = connection.settings_dict
    return subprocess.run(
        [PSQL, "-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432), "-U", settings["USER"],
         "-d", settings["NAME"], "-X", "-q", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": settings["PASSWORD"] or ""})


@pytest.fixture
def drop_role_after():
    """The role is the cluster's, not the test database's: take it away again."""
    yield
    psql("-c", "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres_exporter') THEN "
               "EXECUTE format('REVOKE ALL ON DATABASE %I FROM postgres_exporter', current_database()); "
               "DROP ROLE postgres_exporter; END IF; END $$")


@pytest.mark.skipif(not (PSQL and EXPORTER), reason="needs psql and prometheus-postgres-exporter")
def test_the_exporter_reads_postgresql_as_its_own_role(tmp_path, drop_role_after):
    made = psql("-v", f"exporter_password={PASSWORD}", "-f", str(SCRIPT))
    assert made.returncode == 0, made.stderr
    again = psql("-v", f"exporter_password={PASSWORD}", "-f", str(SCRIPT))  # idempotent: every compose start
    assert again.returncode == 0, again.stderr
    member = psql("-tAc", "SELECT pg_has_role('postgres_exporter', 'pg_monitor', 'MEMBER'),"
                          " has_table_privilege('postgres_exporter', 'monitoring_team', 'SELECT')")
    assert member.stdout.strip() == "t|f"

    # The variables compose gives the exporter, the password from a file as from its secret.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres-exporter"]
    assert set(compose["environment"]) == {"DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_PASS_FILE"}
    password_file = tmp_path / "postgres_exporter_password"
    password_file.write_text(PASSWORD)
    settings = connection.settings_dict
    port = free_port()
    environment = {**os.environ, "DATA_SOURCE_USER": compose["environment"]["DATA_SOURCE_USER"],
                   "DATA_SOURCE_PASS_FILE": str(password_file),
                   "DATA_SOURCE_URI": compose["environment"]["DATA_SOURCE_URI"].replace(
                       "postgres:5432/flowtower", f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
                                                  f"/{settings['NAME']}")}
    environment.pop("DATA_SOURCE_NAME", None)
    process = subprocess.Popen([EXPORTER, f"--web.listen-address=127.0.0.1:{port}"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=15) as answer:
                    metrics = answer.read().decode()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read().decode()[-2000:])
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "\npg_up 1\n" in metrics


@pytest.mark.skipif(not PSQL, reason="needs psql")
@pytest.mark.parametrize("arguments, message", [
    ((), "give the password"),
    (("-v", "exporter_password=short"), "at least 12 characters"),
])
def test_the_script_refuses_a_missing_or_short_password(arguments, message):
    refused = psql(*arguments, "-f", str(SCRIPT))
    assert refused.returncode != 0 and message in refused.stderr
