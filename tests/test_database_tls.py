"""TLS to PostgreSQL is configured in DATABASE_URL (`?sslmode=…&sslrootcert=…`, docs/security.md),
and Flowtower's settings pass it to every connection: `require` refuses a server without TLS,
`verify-full` connects encrypted only to a server whose certificate names the host, and `disable`
connects in the clear. Each case starts Flowtower's real settings in a fresh process; the TLS
server is a private PostgreSQL (initdb / pg_ctl) with a certificate made for the test."""

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("FLOWTOWER_PG_BIN", "/usr/lib/postgresql/15/bin"))

# Connects through Django's connection (the pool, as a server process does) and reports whether
# the session is encrypted, as PostgreSQL sees it.
CONNECT = """
import json, django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    print(json.dumps({"ssl": cursor.fetchone()[0], "options": connection.settings_dict["OPTIONS"]}, default=str))
"""


def start_flowtower(database_url):
    """A process with Flowtower's settings connecting to database_url (not yet waited for)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY=secrets.token_urlsafe(50),
               DATABASE_URL=database_url, DB_POOL_TIMEOUT="3", LOG_LEVEL="WARNING", LOG_FORMAT="text")
    return subprocess.Popen([sys.executable, "-c", CONNECT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def outcome(process):
    """(connected and what it saw, or None; everything it printed)."""
    out, err = process.communicate(timeout=120)
    if process.returncode == 0:
        return json.loads(out.splitlines()[-1]), out + err
    return None, out + err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory):
    """A CA, and a server certificate it signed for the name "localhost" only."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Flowtower test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=directory)


@pytest.fixture(scope="module")
def tls_postgres():
    """A private PostgreSQL that accepts only TLS connections; yields (port, CA certificate path)."""
    if not (PG_BIN / "initdb").exists() or not shutil.which("openssl"):
        pytest.fail(f"needs PostgreSQL server binaries in {PG_BIN} and openssl")
    # Not under pytest's tmp_path: its parents are private to this user, and the server may run as another.
    base = Path(tempfile.mkdtemp(prefix="flowtower-tls-pg-"))
    as_owner = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"

    def run(*args):
        done = subprocess.run([*as_owner, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}{log.read_text() if log.exists() else ''}"

    run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--locale=C")
    make_certificates(data)
    if as_owner:
        for name in ("server.key", "server.crt"):
            os.chown(data / name, owner.pw_uid, owner.pw_gid)
    (data / "server.key").chmod(0o600)
    (data / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n")
    port = free_port()
    run(PG_BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on")
    try:
        yield port, data / "ca.crt"
    finally:
        run(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def local_url(query):
    """The test suite's PostgreSQL (no TLS on this machine), database postgres."""
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/postgres?{query}"


def test_sslmode_in_database_url_is_honoured(tls_postgres):
    port, ca = tls_postgres
    with psycopg.connect(local_url("sslmode=disable").replace("postgres://", "postgresql://")) as conn:
        assert conn.execute("SHOW ssl").fetchone()[0] == "off", "this test expects the local PostgreSQL without TLS"
    started = {  # all at once: each start takes seconds
        "require, no TLS server": start_flowtower(local_url("sslmode=require")),
        "disable, no TLS server": start_flowtower(local_url("sslmode=disable")),
        "verify-full": start_flowtower(f"postgres://postgres@localhost:{port}/postgres"
                                       f"?sslmode=verify-full&sslrootcert={ca}"),
        "verify-full, wrong name": start_flowtower(f"postgres://postgres@127.0.0.1:{port}/postgres"
                                                   f"?sslmode=verify-full&sslrootcert={ca}"),
        "verify-full, unknown CA": start_flowtower(f"postgres://postgres@localhost:{port}/postgres"
                                                   f"?sslmode=verify-full&sslrootcert={ROOT / 'missing-ca.crt'}"),
    }
    results = {case: outcome(process) for case, process in started.items()}

    connected, printed = results["require, no TLS server"]
    assert connected is None and "server does not support SSL, but SSL was required" in printed, printed
    connected, printed = results["disable, no TLS server"]
    assert connected == {"ssl": False, "options": {**connected["options"], "sslmode": "disable"}}, printed
    connected, printed = results["verify-full"]
    assert connected is not None and connected["ssl"] is True, printed
    assert connected["options"]["sslmode"] == "verify-full" and connected["options"]["sslrootcert"] == str(ca)
    connected, printed = results["verify-full, wrong name"]
    assert connected is None and 'does not match host name "127.0.0.1"' in printed, printed
    connected, printed = results["verify-full, unknown CA"]
    assert connected is None and "root certificate file" in printed, printed
