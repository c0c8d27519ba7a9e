"""Real, private server processes for the fault tests and the load check (`make bench`):
a redis-server, a PostgreSQL cluster (initdb / pg_ctl from the installed PostgreSQL) and Daphne
serving Flowtower with production settings (DEBUG off) — each on a free port, in a temporary
directory, and each can be stopped and started again on the same port to simulate an outage.

Nothing here is a mock: the point is to see what a client of the real ASGI server sees when
Redis or PostgreSQL goes away. Imported by tests/fault/conftest.py and scripts/bench_load.py.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
# The Flowtower code the servers run: this checkout, or another copy of it (e.g. an older commit,
# to see that a test fails without a fix) with FLOWTOWER_FAULT_APP_DIR.
APP_DIR = Path(os.environ.get("FLOWTOWER_FAULT_APP_DIR", REPO))
PG_BIN = Path(os.environ.get("FLOWTOWER_PG_BIN", "/usr/lib/postgresql/15/bin"))
# PostgreSQL refuses to run as root; as root we run it as this (existing) system user.
PG_OS_USER = "postgres"


class ServerError(RuntimeError):
    """A private server could not be started; the message says what is missing or what it logged."""


def free_port() -> int:
    # Ask the kernel for a port nobody uses; never a fixed port (other helpers run servers too).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(path) -> str:
    """The binary's path, or a clear failure: fault tests must not be skipped silently."""
    found = shutil.which(str(path))
    if not found:
        raise ServerError(f"{path} is needed for the fault tests and the load check but was not found")
    return found


def _tail(path, lines=40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_for_port(port, timeout, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"process exited with {proc.returncode} before listening on {port}:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"nothing listening on 127.0.0.1:{port} after {timeout} s:\n{_tail(log)}")


def _stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it does not exit: a frozen server ignores SIGTERM (issue item 1)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class RedisServer:
    """redis-server without persistence on a private port; stop() and start() keep the port."""

    def __init__(self, workdir):
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.log = Path(workdir) / "redis.log"
        self.proc = None

    def url(self, db=0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _wait_for_port(self.port, 10, self.proc, self.log)

    def stop(self):
        _stop_process(self.proc)
        self.proc = None


class PostgresServer:
    """A throwaway PostgreSQL cluster: initdb into a temporary directory, trust authentication for
    user postgres on 127.0.0.1, started and stopped with pg_ctl."""

    def __init__(self, workdir, max_connections=100):
        for name in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / name).exists():
                raise ServerError(f"{PG_BIN / name} is needed (PostgreSQL 15 server binaries; set FLOWTOWER_PG_BIN)")
        self.port = free_port()
        self.dir = Path(workdir) / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.max_connections = max_connections
        self.dir.mkdir()
        self._as_owner = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                raise ServerError(f"running as root, PostgreSQL needs an OS user '{PG_OS_USER}' to run as")
            os.chown(workdir, owner.pw_uid, owner.pw_gid)
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as_owner = [require_binary("runuser"), "-u", PG_OS_USER, "--"]
        self._run([PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync", "--locale=C"])

    def _run(self, args, check=True):
        result = subprocess.run([*self._as_owner, *map(str, args)], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise ServerError(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}\n{_tail(self.log)}")
        return result

    def url(self, dbname) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self):
        # The socket directory is ours too, so the cluster touches nothing shared; fsync is off
        # because only clean shutdowns are simulated here (a fast shutdown still checkpoints).
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections={self.max_connections} -c fsync=off")
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "30", "start"])

    def stop(self):
        """A fast shutdown: clients are disconnected at once, as in a database restart."""
        self._run([PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"], check=False)

    def running(self) -> bool:
        return self._run([PG_BIN / "pg_ctl", "-D", self.data, "status"], check=False).returncode == 0

    def start_if_stopped(self):
        if not self.running():
            self.start()

    def connect(self, dbname="postgres"):
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def create_database(self, name):
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def connections(self, dbname, conn) -> int:
        """Client connections to dbname now, not counting the asking connection `conn` (nor
        PostgreSQL's own autovacuum workers, which show up with the database's name too)."""
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'", [dbname]
        ).fetchone()[0]

def production_env(database_url, redis_url, static_root, **overrides) -> dict:
    """The environment of a production start as the README describes it (DEBUG off, a real
    secret key, collected static files), pointed at the private servers."""
    # Flowtower's own settings from this environment (e.g. what the test settings put there) stay out.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DB_", "FLOWTOWER_", "CELERY_", "SECURE_", "SESSION_", "CSRF_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(APP_DIR),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STATIC_ROOT": str(static_root),
        # One token posts thousands of requests across the session's tests (the freeze test alone
        # 3,000): limits are counted (the Redis test checks the counters) but not reached.
        "FLOWTOWER_THROTTLE_TOKEN": "1000000/min",
        "FLOWTOWER_THROTTLE_USER": "1000000/min",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def _manage_command(*args):
    return [str(VENV_BIN / "python"), str(APP_DIR / "manage.py"), *args]


def manage(env, *args) -> str:
    """Run a management command with env; its stdout, or a failure showing what it printed."""
    result = subprocess.run(_manage_command(*args), env=env, cwd=APP_DIR, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise ServerError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# The team, its service token and a viewer account (for signing in to the web UI and its live
# updates), made by the management commands an operator uses — in one process, since each
# manage.py start costs seconds. The token is the last line printed.
SETUP_SCRIPT = """
from django.core.management import call_command
call_command("create_team", "fault")
call_command("add_member", "fault", "watcher", role="viewer")
call_command("create_service_token", team="fault", name="fault")
"""
VIEWER = "watcher"


def prepare_database(env) -> str:
    """Migrate, then create team "fault", its viewer VIEWER (password env["FLOWTOWER_PASSWORD"])
    and a service token; returns the token."""
    manage(env, "migrate", "--noinput", "-v0")
    return manage(env, "shell", "-c", SETUP_SCRIPT).strip().splitlines()[-1]


class StaticFiles:
    """collectstatic into STATIC_ROOT, in the background: it needs no database, and production
    settings (DEBUG off) serve pages only from collected, hashed files."""

    def __init__(self, env):
        self.proc = subprocess.Popen(_manage_command("collectstatic", "--noinput", "-v0"), env=env, cwd=APP_DIR,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self):
        output, _ = self.proc.communicate(timeout=300)
        if self.proc.returncode != 0:
            raise ServerError(f"manage.py collectstatic failed:\n{output}")


class DaphneServer:
    """One Daphne process serving config.asgi:application with the given environment."""

    def __init__(self, env, workdir, name="daphne"):
        self.binary = require_binary(VENV_BIN / "daphne")
        self.env = env
        self.port = free_port()
        self.log = Path(workdir) / f"{name}.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                env=self.env, cwd=APP_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _wait_for_port(self.port, timeout, self.proc, self.log)
        # Listening is not serving: wait for a first real answer from Django.
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.url + "/login/", timeout=5)
                return
            except requests.RequestException:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise ServerError(f"Daphne does not answer on {self.url}:\n{_tail(self.log)}")
                time.sleep(0.1)

    def stop(self):
        _stop_process(self.proc)

    def rss_mb(self) -> float:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class Stack:
    """The three private servers plus a migrated database and collected static files: what a
    fault test or the load check needs before starting Daphne (possibly several times, with
    different settings)."""

    DBNAME = "flowtower"

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="flowtower-fault-"))
        self.redis = RedisServer(self.workdir)
        self.pg = PostgresServer(self.workdir)
        self.static_root = self.workdir / "static"
        self.daphnes = []
        self.token = None
        self.password = secrets.token_urlsafe(16)  # the viewer's

    def start(self):
        try:
            self.redis.start()
            self.pg.start()
            self.pg.create_database(self.DBNAME)
            env = self.env(FLOWTOWER_PASSWORD=self.password)
            static = StaticFiles(env)
            self.token = prepare_database(env)
            static.wait()
        except BaseException:
            self.close()  # no server left running behind a failed start
            raise
        return self

    def env(self, **overrides) -> dict:
        return production_env(self.pg.url(self.DBNAME), self.redis.url(0), self.static_root, **overrides)

    def daphne(self, **overrides) -> DaphneServer:
        server = DaphneServer(self.env(**overrides), self.workdir, name=f"daphne-{len(self.daphnes)}")
        self.daphnes.append(server)
        server.start()
        return server

    def db(self):
        """An autocommit connection to the application's database, for checking what is stored."""
        return self.pg.connect(self.DBNAME)

    def close(self):
        for server in self.daphnes:
            server.stop()
        self.redis.stop()
        self.pg.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


if __name__ == "__main__":  # by hand: start everything, print where it runs, stop on Enter
    stack = Stack().start()
    try:
        server = stack.daphne()
        print(server.url, "token", stack.token, "in", stack.workdir, file=sys.stderr)
        input()
    finally:
        stack.close()
