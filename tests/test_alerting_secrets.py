"""Channel secrets at rest (monitoring.crypto, alerts.delivery): encrypted with the first key of
FLOWTOWER_ENCRYPTION_KEYS and decrypted with any of them, so a key is rotated by putting a new one
first, running `manage.py reencrypt_secrets` and dropping the old one; without a key that decrypts
them, `migrate` / `check --database default` stop naming the setting; and secrets are only ever
shown masked."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alerting_channels_world import OTHER_KEY, make_channel  # noqa: F401
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection
from django.test import override_settings

from alerts import delivery
from monitoring import crypto

ROOT = Path(__file__).resolve().parent.parent
TEST_KEY = settings.FLOWTOWER_ENCRYPTION_KEYS[0]
SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstXYZ1"


def stored_column(channel):
    """What the database holds, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM alerts_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def test_secrets_are_encrypted_at_rest_and_decrypt_in_memory(make_channel):
    channel = make_channel("slack", secrets={"webhook_url": SLACK_URL})
    column = stored_column(channel)
    assert SLACK_URL not in column and "hooks.slack.com" not in column and "XYZ1" not in column
    channel.refresh_from_db()
    assert delivery.channel_secrets(channel) == {"webhook_url": SLACK_URL}


def test_a_channel_without_secrets_needs_no_key(make_channel):
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[]):
        channel = make_channel("log")
        assert stored_column(channel) == ""
        assert delivery.channel_secrets(channel) == {}


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"]])
def test_without_a_usable_key_secrets_are_refused_naming_the_setting(keys):
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=keys):
        with pytest.raises(ImproperlyConfigured, match="FLOWTOWER_ENCRYPTION_KEYS"):
            crypto.encrypt_json({"token": "x"})
    if keys:  # the bad key itself is not echoed
        with override_settings(FLOWTOWER_ENCRYPTION_KEYS=keys), pytest.raises(ImproperlyConfigured) as error:
            crypto.decrypt_json("gAAAA")
        assert "not-a-fernet-key" not in str(error.value)


def test_rotation_new_key_first_reencrypt_then_drop_the_old_key(make_channel):
    channel = make_channel("slack", secrets={"webhook_url": SLACK_URL})
    old_token = stored_column(channel)

    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[OTHER_KEY, TEST_KEY]):
        assert delivery.channel_secrets(channel) == {"webhook_url": SLACK_URL}  # the old key still decrypts
        call_command("reencrypt_secrets", stdout=open(os.devnull, "w"))
    new_token = stored_column(channel)
    assert new_token != old_token

    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[OTHER_KEY]):
        channel.refresh_from_db()
        assert delivery.channel_secrets(channel) == {"webhook_url": SLACK_URL}
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[TEST_KEY]):
        with pytest.raises(crypto.DecryptionError, match="FLOWTOWER_ENCRYPTION_KEYS"):
            delivery.channel_secrets(channel)


def test_reencrypt_stops_without_changing_anything_when_a_secret_does_not_decrypt(make_channel):
    readable = make_channel("slack", secrets={"webhook_url": SLACK_URL}, name="readable")
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[OTHER_KEY]):
        make_channel("slack", secrets={"webhook_url": SLACK_URL}, name="other key")
    before = stored_column(readable)
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("reencrypt_secrets", stdout=open(os.devnull, "w"))
    assert stored_column(readable) == before


def test_the_check_stops_migrate_when_no_key_decrypts_stored_secrets(make_channel):
    make_channel("slack", secrets={"webhook_url": SLACK_URL})
    call_command("check", databases=["default"])  # the right key: no error

    for keys in ([], [OTHER_KEY]):
        with override_settings(FLOWTOWER_ENCRYPTION_KEYS=keys):
            errors = crypto.check_stored_secrets_decrypt(databases=["default"])
            assert [e.id for e in errors] == ["flowtower.E001"]
            assert "FLOWTOWER_ENCRYPTION_KEYS" in errors[0].msg
            with pytest.raises(SystemCheckError, match="FLOWTOWER_ENCRYPTION_KEYS"):
                call_command("check", databases=["default"])
    # Checks run without a database (runserver, collectstatic) do not query it.
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[]):
        assert crypto.check_stored_secrets_decrypt(databases=None) == []


def test_the_check_passes_on_a_database_without_tables():
    """Before the first migration there is nothing to decrypt and no table to query: `migrate`
    must be able to start. A fresh empty database, checked by a real manage.py process."""
    params = settings.DATABASES["default"]
    name = f"{params['NAME']}_empty_check"
    admin = f"postgresql://{params['USER']}@{params['HOST']}:{params['PORT']}/postgres"
    with psycopg.connect(admin, autocommit=True) as pg:
        pg.execute(f"DROP DATABASE IF EXISTS {name}")
        pg.execute(f"CREATE DATABASE {name}")
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test",
               "DATABASE_URL": f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{name}",
               "FLOWTOWER_ENCRYPTION_KEYS": ""}
        done = subprocess.run([sys.executable, "manage.py", "check", "--database", "default"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as pg:
            pg.execute(f"DROP DATABASE IF EXISTS {name}")


def test_masked_secrets_show_at_most_the_last_four_characters(make_channel):
    secrets = {"url": "https://hooks.example.com/services/T0001/very-secret-path-9F2a",
               "signing_secret": "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3ODk=",
               "bot_token": "123456789:AAExampleBotTokenValueK3y4"}
    channel = make_channel("webhook", secrets=secrets)
    masked = delivery.masked_secrets(channel)
    assert masked == {"url": "https://hooks.example.com/…9F2a", "signing_secret": "…ODk=", "bot_token": "…K3y4"}
    for name, value in secrets.items():
        assert value not in masked[name] and value[:-4] not in masked[name]
    assert delivery.mask(SLACK_URL) == "https://hooks.slack.com/…XYZ1"
    assert delivery.mask("short") == "…"  # a short value shows nothing
    assert delivery.mask("discord://1234567/abcdefghijklmnop") == "discord://…mnop"


def test_partial_update_keeps_secrets_left_out_and_removes_emptied_ones(make_channel):
    channel = make_channel("webhook", secrets={"url": "https://example.com/hook", "signing_secret": "whsec_a"})
    delivery.set_secrets(channel, {"url": "https://example.com/new"}, partial=True)
    channel.refresh_from_db()
    assert delivery.channel_secrets(channel) == {"url": "https://example.com/new", "signing_secret": "whsec_a"}
    delivery.set_secrets(channel, {"signing_secret": None}, partial=True)
    channel.refresh_from_db()
    assert delivery.channel_secrets(channel) == {"url": "https://example.com/new"}
