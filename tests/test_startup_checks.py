"""A production start (DEBUG off) without `collectstatic` stops at once with a message naming the
command, instead of serving a 500 on every page; once static files are collected it starts and
serves pages. Each start is a fresh process with production settings, STATIC_ROOT pointed at a
temporary directory so nothing lands in the checkout."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Imports each entry point (which runs its start-up checks), then asks for a page that links
# static files; prints per entry point the error that stopped it, or the page's status and
# whether it links the collected stylesheet. One process for both entry points: starts are slow.
START = """
import importlib, json, sys
from django.core.exceptions import ImproperlyConfigured
result = {}
for entry_point in sys.argv[1:]:
    try:
        importlib.import_module(entry_point)
    except ImproperlyConfigured as error:
        result[entry_point] = {"error": str(error)}
        continue
    from django.test import Client
    page = Client().get("/login/")
    result[entry_point] = {"status": page.status_code, "links_css": "/static/flowtower/app." in page.content.decode()}
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """A function starting the entry points under production settings (see START), with the
    static root those settings use."""
    static_root = tmp_path_factory.mktemp("static")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", STATIC_ROOT=str(static_root), DEBUG="0",
               SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="false",
               LOG_LEVEL="WARNING")

    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    def start(*entry_points):
        done = run("-c", START, *entry_points)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    start.collectstatic = lambda: run("manage.py", "collectstatic", "--noinput", "-v0")
    start.static_root = static_root
    return start


ENTRY_POINTS = ["config.asgi", "config.wsgi"]


def test_start_without_collectstatic_fails_naming_the_command(production):
    for entry_point, result in production(*ENTRY_POINTS).items():
        assert "manage.py collectstatic" in result["error"], entry_point
        assert "staticfiles.json" in result["error"]


def test_start_after_collectstatic_serves_pages_then_a_stale_manifest_fails(production):
    done = production.collectstatic()
    assert done.returncode == 0, done.stderr
    assert production(*ENTRY_POINTS) == {e: {"status": 200, "links_css": True} for e in ENTRY_POINTS}

    # An upgrade that ships a new static file, started without collecting again.
    manifest_path = production.static_root / "staticfiles.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["paths"]["flowtower/app.css"]
    manifest_path.write_text(json.dumps(manifest))
    error = production("config.asgi")["config.asgi"]["error"]
    assert "out of date" in error and "flowtower/app.css" in error and "manage.py collectstatic" in error
