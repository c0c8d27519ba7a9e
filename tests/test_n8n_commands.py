"""Connecting and syncing n8n without a browser: `add_n8n_instance` stores an instance (its key or
database encrypted) and refuses incomplete or ambiguous input; `sync_n8n` mirrors one instance
or all, again from the first execution with --full, and fails loudly when n8n cannot be read."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import Execution, ServiceToken
from n8n_mirror.models import N8nInstance

SQLITE = Path(__file__).parent / "fixtures" / "n8n" / "n8n-1.123.81.sqlite"


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def n8n_file(tmp_path):
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    return copy


@pytest.mark.django_db
def test_adds_an_api_instance_with_its_key_encrypted(team):
    out = _run("add_n8n_instance", "prod", "--team", "acme", "--api-url", "https://n8n.example.com",
               "--api-key", "n8n_api_secret_key_1234")
    instance = N8nInstance.objects.get(team=team, name="prod")
    assert (instance.kind, instance.api_url, instance.interval_seconds) == ("api", "https://n8n.example.com", 30)
    assert "n8n_api_secret_key_1234" not in instance.secrets
    assert instance.get_secrets() == {"api_key": "n8n_api_secret_key_1234"}
    assert "n8n_api_secret_key_1234" not in out and "sync_n8n --instance prod" in out


@pytest.mark.django_db
def test_adds_a_database_instance_with_a_table_prefix(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--table-prefix", "n8n_")
    instance = N8nInstance.objects.get(team=team, name="local")
    assert (instance.kind, instance.table_prefix) == ("database", "n8n_")
    assert instance.get_secrets() == {"database_url": str(n8n_file)}


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["--team", "nope", "--database", "x.sqlite"], "No team 'nope'"),
    (["--team", "acme"], "either --api-url and --api-key, or --database"),
    (["--team", "acme", "--database", "x.sqlite", "--api-url", "https://n8n.example.com", "--api-key", "k"],
     "either --api-url and --api-key, or --database"),
    (["--team", "acme", "--api-key", "k"], "--api-key needs --api-url"),
    (["--team", "acme", "--api-url", "ftp://n8n.example.com", "--api-key", "k"], "not an http(s) URL"),
    (["--team", "acme", "--database", "x.sqlite", "--interval", "1"], "at least 5 seconds"),
])
def test_refuses_incomplete_or_ambiguous_input(team, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run("add_n8n_instance", "prod", *args)
    assert not N8nInstance.objects.exists()


@pytest.mark.django_db
def test_refuses_a_second_instance_of_the_same_name(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    with pytest.raises(CommandError, match="already has an n8n instance named 'local'"):
        _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_mirrors_and_full_adds_nothing(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    out = _run("sync_n8n", "--instance", "local")
    assert "acme/local: 8 workflows, 30 executions read; 30 mirrored in all" in out
    assert Execution.objects.filter(workflow__team=team).count() == 30
    out = _run("sync_n8n", "--full")
    assert "30 executions read; 30 mirrored in all" in out
    assert Execution.objects.filter(workflow__team=team).count() == 30


@pytest.mark.django_db(transaction=True)
def test_sync_n8n_fails_loudly_when_n8n_cannot_be_read(team, tmp_path):
    _run("add_n8n_instance", "gone", "--team", "acme", "--database", str(tmp_path / "missing.sqlite"))
    with pytest.raises(CommandError, match="1 instance"):
        _run("sync_n8n", "--instance", "gone")
    assert N8nInstance.objects.get(name="gone").last_error


@pytest.mark.django_db
def test_sync_n8n_names_an_unknown_instance(team):
    with pytest.raises(CommandError, match="No n8n instance named 'nope'"):
        _run("sync_n8n", "--instance", "nope")


@pytest.mark.django_db
def test_hook_token_is_the_instances_own_and_again_replaces_it(team, n8n_file):
    out = _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    instance = N8nInstance.objects.get(team=team, name="local")
    first = instance.hook_token
    assert first.name == "n8n hook: local" and first.team == team and first.is_active
    assert f"FLOWTOWER_HOOK_TOKEN={first.prefix}" in out and "shown only now" in out
    out = _run("add_n8n_instance", "local", "--team", "acme", "--hook-token")  # e.g. the token leaked
    instance.refresh_from_db()
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert instance.hook_token != first and instance.hook_token.is_active
    assert f"FLOWTOWER_HOOK_TOKEN={instance.hook_token.prefix}" in out
    assert ServiceToken.objects.filter(name="n8n hook: local", revoked_at__isnull=True).count() == 1
    assert N8nInstance.objects.filter(team=team).count() == 1


@pytest.mark.django_db
def test_hook_token_with_other_options_on_an_existing_instance_is_still_refused(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file))
    with pytest.raises(CommandError, match="already has an n8n instance named 'local'"):
        _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    assert N8nInstance.objects.get(name="local").hook_token is None


@pytest.mark.django_db
def test_deleting_an_instance_revokes_its_hook_token(team, n8n_file):
    _run("add_n8n_instance", "local", "--team", "acme", "--database", str(n8n_file), "--hook-token")
    token = N8nInstance.objects.get(name="local").hook_token
    N8nInstance.objects.get(name="local").delete()
    token.refresh_from_db()
    assert token.revoked_at is not None
