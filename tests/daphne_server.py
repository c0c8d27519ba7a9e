"""A real Daphne process for websocket tests and `make bench`: config.asgi on 127.0.0.1, on a free
port, with the Redis channel layer. Unlike ChannelsLiveServerTestCase it can be stopped and started
again on the same port (a server restart, as browsers see one) and frozen with SIGSTOP.

The live module's timing constants (e.g. HEARTBEAT_SECONDS) can be shortened for one server through
`live_constants`; everything else is the code and settings production runs."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent

# Sets the requested constants of monitoring.live.consumers, then runs Daphne's own command line.
LAUNCHER = """
import json, os, sys
import django
django.setup()
from django.conf import settings
settings.WHITENOISE_USE_FINDERS = True  # static files straight from the apps: tests run no collectstatic
from monitoring.live import consumers
for name, value in json.loads(os.environ.get("FLOWTOWER_TEST_LIVE_CONSTANTS", "{}")).items():
    setattr(consumers, name, value)
from daphne.cli import CommandLineInterface
sys.argv = ["daphne"] + sys.argv[1:]
CommandLineInterface.entrypoint()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict) -> str:
    """The URL of the database Django is connected to (the test database inside a test)."""
    user = quote(settings_dict.get("USER") or "postgres")
    password = settings_dict.get("PASSWORD")
    auth = f"{user}:{quote(password)}" if password else user
    return f"postgres://{auth}@{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


class DaphneServer:
    def __init__(self, env=None, live_constants=None, daphne_args=()):
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        if live_constants:
            import json

            self.env["FLOWTOWER_TEST_LIVE_CONSTANTS"] = json.dumps(live_constants)
        self.daphne_args = list(daphne_args)
        self.log_path = Path(tempfile.mkstemp(prefix="daphne-", suffix=".log")[1])
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, "-b", "127.0.0.1", "-p", str(self.port), *self.daphne_args,
                 "config.asgi:application"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"daphne did not listen on {self.port} within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # in case it was frozen
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def freeze(self):
        """The process stops answering but keeps its sockets open, as a hung server or a dead
        network path looks to a browser."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
