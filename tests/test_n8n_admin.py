"""n8n instances in Django admin: super admins only (an instance may read a file or host of the
server); the key is write-only and shown masked; leaving it empty keeps it; status is read-only;
"Sync now" mirrors at once and reports what went wrong; "New hook token" replaces an instance's
hook token and shows it once."""

import shutil
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import Execution, ServiceToken
from n8n_mirror.models import N8nInstance

SQLITE = Path(__file__).parent / "fixtures" / "n8n" / "n8n-1.123.81.sqlite"
KEY = "n8n_api_0123456789abcdef"


def url(view="changelist", *args):
    return reverse(f"admin:n8n_mirror_n8ninstance_{view}", args=args)


def _messages(page):
    return [str(m) for m in page.context["messages"]]


def login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def instance(team):
    instance = N8nInstance(team=team, name="prod", api_url="https://n8n.example.com")
    instance.set_secrets(api_key=KEY)
    instance.save()
    return instance


@pytest.mark.django_db
def test_only_super_admins_see_n8n_instances(team, make_user, instance):
    team_admin = login(make_user("ada", team, "admin"))
    assert team_admin.get(url()).status_code == 403
    assert team_admin.get(url("change", instance.pk)).status_code in (302, 403)
    root = login(make_user("root", superuser=True))
    assert root.get(url()).status_code == 200


@pytest.mark.django_db
def test_the_key_is_masked_and_kept_when_left_empty(team, make_user, instance):
    root = login(make_user("root", superuser=True))
    page = root.get(url("change", instance.pk)).content.decode()
    assert KEY not in page and "…cdef" in page
    answer = root.post(url("change", instance.pk), {
        "team": team.pk, "name": "prod", "kind": "api", "api_url": "https://n8n2.example.com", "new_api_key": "",
        "new_database_url": "", "table_prefix": "", "enabled": "on", "interval_seconds": "60"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    instance.refresh_from_db()
    assert (instance.api_url, instance.interval_seconds) == ("https://n8n2.example.com", 60)
    assert instance.get_secrets() == {"api_key": KEY}


@pytest.mark.django_db
def test_an_api_instance_without_a_key_is_refused(team, make_user):
    root = login(make_user("root", superuser=True))
    answer = root.post(url("add"), {"team": team.pk, "name": "new", "kind": "api", "api_url": "https://n8n.example.com",
                                    "new_api_key": "", "new_database_url": "", "table_prefix": "",
                                    "interval_seconds": "30"})
    assert answer.status_code == 200 and "An API instance needs an API key." in answer.content.decode()
    assert not N8nInstance.objects.filter(name="new").exists()


@pytest.mark.django_db(transaction=True)
def test_sync_now_mirrors_and_reports(team, make_user, tmp_path, instance):
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    local = N8nInstance(team=team, name="local", kind=N8nInstance.Kind.DATABASE)
    local.set_secrets(database_url=str(copy))
    local.save()
    root = login(make_user("root", superuser=True))
    page = root.post(url(), {"action": "sync_now", "_selected_action": [local.pk], "index": "0"}, follow=True)
    assert _messages(page) == ["acme/local: 30 executions read."]
    assert Execution.objects.filter(workflow__source=local.source).count() == 30
    copy.unlink()
    page = root.post(url(), {"action": "sync_now", "_selected_action": [local.pk], "index": "0"}, follow=True)
    local.refresh_from_db()
    assert local.last_error and _messages(page) == [f"acme/local: {local.last_error}"]


@pytest.mark.django_db
def test_new_hook_token_shows_it_once_and_revokes_the_previous(team, make_user, instance):
    root = login(make_user("root", superuser=True))
    page = root.post(url(), {"action": "make_hook_token", "_selected_action": [instance.pk], "index": "0"},
                     follow=True)
    (message,) = _messages(page)
    raw = message.split("FLOWTOWER_HOOK_TOKEN=", 1)[1].split()[0]
    assert f"/api/v1/integrations/n8n/{instance.pk}/executions-finished" in message and "EXTERNAL_HOOK_FILES=" in message
    instance.refresh_from_db()
    first = instance.hook_token
    assert raw.startswith(first.prefix) and first.name == "n8n hook: prod" and first.created_by.username == "root"
    change = root.get(url("change", instance.pk)).content.decode()
    assert f"{first.prefix}…" in change and "last used never" in change and raw not in change
    root.post(url(), {"action": "make_hook_token", "_selected_action": [instance.pk], "index": "0"})
    first.refresh_from_db()
    instance.refresh_from_db()
    assert first.revoked_at is not None and instance.hook_token.is_active and instance.hook_token != first
    assert ServiceToken.objects.filter(name="n8n hook: prod", revoked_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_team_admins_cannot_use_the_admin_action(team, make_user, instance):
    team_admin = login(make_user("ada", team, "admin"))
    answer = team_admin.post(url(), {"action": "make_hook_token", "_selected_action": [instance.pk], "index": "0"})
    assert answer.status_code == 403 and not ServiceToken.objects.exists()

