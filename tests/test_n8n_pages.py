"""The n8n page as team members use it: admins connect n8n through its API (the key write-only,
masked, encrypted at rest; the API URL under the outbound-address rule), enable or disable, delete
and "Sync now"; members and viewers read; another team sees nothing; a database location is for
super admins only. Team admins make an instance's hook token, shown once with n8n's environment."""

import re

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from monitoring.models import Execution, ServiceToken
from n8n_mirror.models import N8nInstance
from test_n8n_api_reader import KEY
from test_n8n_sync import api_instance, fake_n8n  # noqa: F401  (fixtures: the recorded n8n API)


@pytest.fixture
def signed_in(make_user):
    """A browser-like client signed in with a role in a team; CSRF checked as in a real browser."""
    def make(team, role=None, username=None, superuser=False):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user(username or f"{role or 'super'}-{team.slug}", None if superuser else team,
                                     role, superuser=superuser))
        client.get("/n8n/")  # the page's forms set the CSRF cookie
        return client
    return make


def post(client, path, data=None):
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def html(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def api(team, name="prod n8n", key="n8n-key-abcdefgh-1234", **kwargs):
    instance = N8nInstance(team=team, name=name, kind=N8nInstance.Kind.API, api_url="https://n8n.example.com",
                           **kwargs)
    instance.set_secrets(api_key=key)
    instance.save()
    return instance


def database(team, name="n8n db", url="postgres://n8n:db-password-xyz@db.internal:5432/n8n"):
    instance = N8nInstance(team=team, name=name, kind=N8nInstance.Kind.DATABASE)
    instance.set_secrets(database_url=url)
    instance.save()
    return instance


def test_the_page_needs_sign_in(db, client):
    r = client.get("/n8n/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_admins_see_the_mirror_status_and_a_masked_key(team, signed_in):
    instance = api(team, executions_mirrored=30, last_error="HTTP 401 from n8n: the API key was rejected " + "x" * 900)
    page = html(signed_in(team, "admin").get("/n8n/"))
    assert "prod n8n" in page and "https://n8n.example.com" in page and "30" in page
    assert "…1234" in page and "n8n-key-abcdefgh-1234" not in page
    assert "the API key was rejected" in page and "x" * 400 not in page  # the error is bounded
    for action in ("sync", "enable", "edit", "new"):
        assert f'data-action="{action}"' in page
    assert instance.secrets and KEY not in instance.secrets and "abcdefgh" not in instance.secrets  # encrypted


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_members_and_viewers_read_only_and_their_posts_are_refused(team, signed_in, role):
    instance = api(team)
    client = signed_in(team, role)
    page = html(client.get("/n8n/"))
    assert "prod n8n" in page
    assert not any(f'data-action="{a}"' in page for a in ("sync", "enable", "edit", "new", "hook-token"))
    assert client.get("/n8n/new/").status_code == 403
    assert client.get(f"/n8n/{instance.pk}/").status_code == 403
    for action in ("sync", "enable", "delete", "hook-token"):
        assert post(client, f"/n8n/{instance.pk}/{action}/").status_code == 403
    instance.refresh_from_db()
    assert instance.enabled and instance.last_run_at is None


def test_another_team_sees_nothing(team, other_team, signed_in):
    instance = api(team)
    client = signed_in(other_team, "admin")
    assert "prod n8n" not in html(client.get("/n8n/"))
    assert client.get(f"/n8n/{instance.pk}/").status_code == 404
    for action in ("sync", "enable", "delete", "hook-token"):
        assert post(client, f"/n8n/{instance.pk}/{action}/").status_code == 404
    assert N8nInstance.objects.filter(pk=instance.pk).exists() and not ServiceToken.objects.exists()


def test_an_admin_adds_an_api_instance_with_its_key_encrypted(team, signed_in):
    client = signed_in(team, "admin")
    form = html(client.get("/n8n/new/"))
    assert 'name="api_url"' in form and 'name="api_key"' in form
    assert not any(f'name="{field}"' in form for field in ("database_url", "new_database_url", "kind", "table_prefix"))
    r = post(client, "/n8n/new/", {"team": team.slug, "name": "prod n8n", "api_url": "https://n8n.example.com",
                                   "api_key": "secret-n8n-key-9876", "enabled": "on", "interval_seconds": 60})
    assert r.status_code == 302
    instance = N8nInstance.objects.get(team=team, name="prod n8n")
    assert instance.kind == "api" and instance.interval_seconds == 60
    assert instance.get_secrets() == {"api_key": "secret-n8n-key-9876"}
    assert "secret-n8n-key-9876" not in instance.secrets
    edit = html(client.get(f"/n8n/{instance.pk}/"))
    assert "secret-n8n-key-9876" not in edit and "…9876" in edit


def test_a_database_url_posted_by_a_team_admin_is_ignored(team, signed_in):
    client = signed_in(team, "admin")
    post(client, "/n8n/new/", {"team": team.slug, "name": "sneaky", "api_url": "https://n8n.example.com",
                               "api_key": "k-123456789", "interval_seconds": 30, "kind": "database",
                               "database_url": "/etc/passwd", "new_database_url": "/etc/passwd"})
    instance = N8nInstance.objects.get(name="sneaky")
    assert instance.kind == "api" and "database_url" not in instance.get_secrets()


def test_a_blank_key_keeps_the_stored_one(team, signed_in):
    instance = api(team)
    client = signed_in(team, "admin")
    r = post(client, f"/n8n/{instance.pk}/", {"name": "renamed", "api_url": "https://n8n2.example.com",
                                             "api_key": "", "enabled": "on", "interval_seconds": 30})
    assert r.status_code == 302
    instance.refresh_from_db()
    assert instance.name == "renamed" and instance.api_url == "https://n8n2.example.com"
    assert instance.get_secrets()["api_key"] == "n8n-key-abcdefgh-1234"


def test_a_new_instance_needs_a_key(team, signed_in):
    page = html(post(signed_in(team, "admin"), "/n8n/new/", {
        "name": "x", "api_url": "https://n8n.example.com", "interval_seconds": 30}))
    assert "An API instance needs an API key." in page and not N8nInstance.objects.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:5678", "http://10.0.0.7/", "http://169.254.169.254/"])
def test_an_api_url_to_an_internal_address_is_refused(team, signed_in, settings, url):
    settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND = False
    page = html(post(signed_in(team, "admin"), "/n8n/new/", {
        "name": "internal", "api_url": url, "api_key": "k-123456789", "interval_seconds": 30}))
    assert 'data-field-name="api_url"' in page and "internal address" in page
    assert not N8nInstance.objects.exists()


def test_database_instances_are_read_only_here_and_their_location_for_super_admins_only(team, signed_in):
    instance = database(team)
    admin = signed_in(team, "admin")
    page = html(admin.get("/n8n/"))
    assert "n8n db" in page and "db.internal" not in page and "db-password-xyz" not in page
    assert 'data-action="edit"' not in page and 'data-action="sync"' not in page
    assert admin.get(f"/n8n/{instance.pk}/").status_code == 403
    assert post(admin, f"/n8n/{instance.pk}/delete/").status_code == 403

    superuser = signed_in(team, superuser=True)
    page = html(superuser.get("/n8n/"))
    assert "postgres://db.internal:5432/n8n" in page and "db-password-xyz" not in page


def test_enable_disable_and_delete(team, signed_in):
    instance = api(team)
    client = signed_in(team, "admin")
    assert post(client, f"/n8n/{instance.pk}/enable/").status_code == 302
    instance.refresh_from_db()
    assert not instance.enabled
    assert 'data-action="enable">Enable<' in html(client.get("/n8n/"))
    assert post(client, f"/n8n/{instance.pk}/delete/").status_code == 302
    assert not N8nInstance.objects.filter(pk=instance.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_sync_now_mirrors_the_executions_and_shows_the_status(api_instance, team, signed_in):  # noqa: F811
    client = signed_in(team, "admin")
    r = post(client, f"/n8n/{api_instance.pk}/sync/")
    assert r.status_code == 302
    page = html(client.get("/n8n/"))
    assert "Synced “n8n-api”: 8 workflows, 30 executions read." in page
    assert Execution.objects.filter(workflow__source=api_instance.source).count() == 30
    api_instance.refresh_from_db()
    assert api_instance.executions_mirrored == 30 and api_instance.last_success_at and not api_instance.last_error
    assert '<td data-field="executions-mirrored">30' in page
    assert '<td data-field="lag">–' not in page


@pytest.mark.django_db(transaction=True)
def test_sync_now_shows_a_rejected_key(api_instance, team, signed_in):  # noqa: F811
    api_instance.set_secrets(api_key="wrong-key-000000")
    api_instance.save()
    client = signed_in(team, "admin")
    post(client, f"/n8n/{api_instance.pk}/sync/")
    page = html(client.get("/n8n/"))
    assert "Sync of “n8n-api” failed" in page and 'class="error"' in page
    api_instance.refresh_from_db()
    assert api_instance.last_error and api_instance.last_success_at is None


def _environment(page):
    """The lines the hook-token page shows for n8n's environment, as a dict."""
    block = re.search(r'<pre data-field="environment">(.*?)</pre>', page, re.S).group(1)
    return dict(line.split("=", 1) for line in block.strip().splitlines())


def _hook(raw, instance):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.post(f"/api/v1/integrations/n8n/{instance.pk}/executions-finished", {"executionId": "7"},
                       format="json")


def test_an_admin_makes_a_hook_token_shown_once_with_n8ns_environment(team, signed_in):
    instance = api(team, enabled=False)  # a disabled instance's hook answers 202 and syncs nothing
    client = signed_in(team, "admin")
    page = html(client.get("/n8n/"))
    assert 'data-action="hook-token"' in page and "no token" in page
    answer = post(client, f"/n8n/{instance.pk}/hook-token/")
    assert "no-store" in answer["Cache-Control"]
    env = _environment(html(answer))
    assert set(env) == {"EXTERNAL_HOOK_FILES", "FLOWTOWER_URL", "FLOWTOWER_HOOK_TOKEN"}
    assert env["FLOWTOWER_URL"] == f"{settings.FLOWTOWER_BASE_URL}/api/v1/integrations/n8n/{instance.pk}/executions-finished"
    raw = env["FLOWTOWER_HOOK_TOKEN"]
    instance.refresh_from_db()
    assert raw.startswith("ft_") and instance.hook_token.name == "n8n hook: prod n8n"
    assert instance.hook_token.created_by.username == "admin-acme"
    # The list shows that there is one, its prefix and when n8n last used it; never the token.
    page = html(client.get("/n8n/"))
    assert raw not in page and f"<code>{instance.hook_token.prefix}…</code>" in page and "never" in page
    assert _hook(raw, instance).status_code == 202
    page = html(client.get("/n8n/"))
    instance.hook_token.refresh_from_db()
    assert instance.hook_token.last_used_at is not None and "last used</span> never" not in page
    # A new one revokes the first: n8n must get the new one.
    second = _environment(html(post(client, f"/n8n/{instance.pk}/hook-token/")))["FLOWTOWER_HOOK_TOKEN"]
    assert second != raw and _hook(raw, instance).status_code == 401 and _hook(second, instance).status_code == 202
    assert ServiceToken.objects.filter(team=team, revoked_at__isnull=True).count() == 1


def test_a_hook_token_needs_a_post_with_csrf(team, signed_in):
    instance = api(team)
    client = signed_in(team, "admin")
    assert client.get(f"/n8n/{instance.pk}/hook-token/").status_code == 405
    assert client.post(f"/n8n/{instance.pk}/hook-token/").status_code == 403  # no CSRF token
    assert not ServiceToken.objects.exists()


def test_team_admins_make_hook_tokens_for_database_instances_too(team, signed_in):
    """The token is the team's, not the server's file or host: no super admin needed."""
    instance = database(team)
    client = signed_in(team, "admin")
    assert 'data-action="hook-token"' in html(client.get("/n8n/"))
    assert "FLOWTOWER_HOOK_TOKEN=ft_" in html(post(client, f"/n8n/{instance.pk}/hook-token/"))

