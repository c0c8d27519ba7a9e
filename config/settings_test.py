"""Test settings: the real PostgreSQL and Redis on this machine unless the environment says otherwise."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowtower")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("LOG_FORMAT", "text")
# A fixed test-only Fernet key for channel secrets; the local receivers the tests start listen on
# 127.0.0.1, which production refuses as an outbound target.
os.environ.setdefault("FLOWTOWER_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2g=")
os.environ.setdefault("FLOWTOWER_ALLOW_PRIVATE_OUTBOUND", "true")
os.environ.setdefault("EMAIL_URL", "smtp://127.0.0.1:25")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation in tests
# Tests render pages without running collectstatic first.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Named explicitly so the live Daphne server of the browser tests (another process) finds it.
DATABASES["default"]["TEST"] = {"NAME": "test_" + DATABASES["default"]["NAME"]}  # noqa: F405
