"""Real processes the tests start beside Flowtower (a Celery worker, Prometheus, an exporter)."""

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Process:
    """A child process with its output in a file, stopped at the end."""

    def __init__(self, args, env, log_path):
        self.args, self.env, self.log_path = args, env, log_path

    def __enter__(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def scrape_exporter(command, port, path="/metrics", env=None):
    """Start a real exporter, read one answer of `path` on its port, stop it."""
    binary = shutil.which(command[0])
    assert binary, f"{command[0]} is not installed (Debian package {command[0]}; scripts/ensure_observability_tools.sh)"
    process = subprocess.Popen([binary, *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=15) as answer:
                    return answer.read().decode()
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command[0]} did not answer: {process.stdout.read().decode()[-2000:]}")
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=10)
