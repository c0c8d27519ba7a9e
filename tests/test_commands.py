"""Set-up without a browser: create_team, add_member, create_service_token."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from monitoring.models import Membership, ServiceToken, Team, hash_token


def test_create_team(db, capsys):
    call_command("create_team", "acme", "--name", "Acme Inc")
    assert Team.objects.get(slug="acme").name == "Acme Inc"
    call_command("create_team", "acme")  # again: no duplicate, no error
    assert Team.objects.count() == 1


def test_create_team_rejects_bad_slug(db):
    with pytest.raises(CommandError, match="not a valid slug"):
        call_command("create_team", "Not A Slug")


def test_add_member_creates_user_with_password_from_env(team, monkeypatch):
    monkeypatch.setenv("FLOWTOWER_PASSWORD", "correct horse battery staple")
    call_command("add_member", "acme", "alice", "--role", "member")
    user = get_user_model().objects.get(username="alice")
    assert user.check_password("correct horse battery staple")
    assert user.is_staff and not user.is_superuser
    assert Membership.objects.get(user=user, team=team).role == "member"


def test_add_member_changes_role_of_existing_user(team, make_user, monkeypatch):
    monkeypatch.delenv("FLOWTOWER_PASSWORD", raising=False)
    user = make_user("bob", team, "viewer")
    call_command("add_member", "acme", "bob", "--role", "admin")
    assert Membership.objects.get(user=user, team=team).role == "admin"


def test_add_member_refuses_weak_password_and_unknown_team(team, monkeypatch):
    monkeypatch.setenv("FLOWTOWER_PASSWORD", "123")
    with pytest.raises(CommandError, match="Password rejected"):
        call_command("add_member", "acme", "carol", "--role", "viewer")
    assert not get_user_model().objects.filter(username="carol").exists()
    with pytest.raises(CommandError, match="No team"):
        call_command("add_member", "nope", "carol", "--role", "viewer")


def test_add_member_without_password_and_without_terminal_fails(team, monkeypatch):
    monkeypatch.delenv("FLOWTOWER_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: False)
    with pytest.raises(CommandError, match="FLOWTOWER_PASSWORD"):
        call_command("add_member", "acme", "dave", "--role", "viewer")


def test_create_service_token_prints_token_last_and_stores_hash(team, capsys, client_for):
    call_command("create_service_token", "--team", "acme", "--name", "billing")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert raw.startswith("ft_")
    token = ServiceToken.objects.get(name="billing")
    assert token.token_hash == hash_token(raw) and raw not in (token.token_hash, token.prefix)
    # The printed token works against the API.
    r = client_for(raw).get("/api/workflows/monitoring?type=dashboard")
    assert r.status_code == 200


def test_create_service_token_unknown_team(db):
    with pytest.raises(CommandError, match="No team"):
        call_command("create_service_token", "--team", "nope", "--name", "x")
