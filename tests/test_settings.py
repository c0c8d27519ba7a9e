"""Production settings: refuse to start without a real SECRET_KEY; `check --deploy` is clean."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT")}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("key", [
    "",
    "short",
    "django-insecure-0123456789012345678901234567890123456789",
    "x" * 32 + "0123456789abcdef",  # 48 characters: accepted once, but `check --deploy` wants 50
    "ab" * 30,  # long enough, too few different characters for `check --deploy`
])
def test_refuses_to_start_without_a_real_secret_key(key, tmp_path):
    result = run_manage("check", SECRET_KEY=key, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production_settings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY="a-real-production-secret-key-of-more-than-fifty-characters-0123456789",
        DEBUG="false", ALLOWED_HOSTS="flowtower.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_unless_asked():
    result = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        SECRET_KEY="a-real-production-secret-key-of-more-than-fifty-characters-0123456789",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False []"
