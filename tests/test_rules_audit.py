"""README, "Audit trail": django-auditlog records every change to teams, memberships, users and
retention runs (among others), with before and after; a password hash never enters the trail."""

from auditlog.models import LogEntry
from django.contrib.auth import get_user_model

from monitoring import retention
from monitoring.models import Membership, RetentionRun, Team


def entries(obj):
    return list(LogEntry.objects.get_for_object(obj).order_by("pk"))


def test_team_changes_are_audited(db):
    team = Team.objects.create(slug="initech", name="Initech")
    team.name = "Initech Ltd"
    team.save()
    created, changed = entries(team)
    assert created.action == LogEntry.Action.CREATE
    assert changed.action == LogEntry.Action.UPDATE and changed.changes_dict["name"] == ["Initech", "Initech Ltd"]
    pk = team.pk
    team.delete()
    assert LogEntry.objects.filter(content_type__model="team", object_pk=str(pk),
                                   action=LogEntry.Action.DELETE).exists()


def test_membership_changes_are_audited(team, make_user):
    membership = Membership.objects.create(team=team, user=make_user("mia"), role="viewer")
    membership.role = "admin"
    membership.save()
    created, changed = entries(membership)
    assert created.action == LogEntry.Action.CREATE
    assert changed.changes_dict["role"] == ["viewer", "admin"]
    pk = membership.pk
    membership.delete()
    assert LogEntry.objects.filter(content_type__model="membership", object_pk=str(pk),
                                   action=LogEntry.Action.DELETE).exists()


def test_user_changes_are_audited_without_the_password(db):
    user = get_user_model().objects.create_user("mia", password="first-passphrase-1")
    user.is_superuser = True
    user.set_password("second-passphrase-2")
    user.save()
    created, changed = entries(user)
    assert created.action == LogEntry.Action.CREATE
    assert changed.changes_dict["is_superuser"] == ["False", "True"]
    for entry in (created, changed):
        assert "password" not in entry.changes_dict
        assert user.password not in str(entry.changes)


def test_retention_runs_are_audited(db):
    run = retention.prune(trigger="test", dry_run=True)
    assert RetentionRun.objects.get() == run
    logged = entries(run)
    assert logged[0].action == LogEntry.Action.CREATE
    # The finished run's counts are in the trail too.
    assert any("deleted" in entry.changes_dict for entry in logged)
