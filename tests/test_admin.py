"""The admin: super admins see everything; team members see their teams only, with the rights
their role gives (monitoring.access), and state changes go through monitoring.services."""

import re

import pytest
from auditlog.models import LogEntry
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from monitoring import events
from monitoring.ingest import ingest
from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    IdempotencyKey,
    Membership,
    PerformanceMetric,
    RetentionRun,
    ServiceToken,
    Workflow,
    WorkflowError,
    hash_token,
)
from monitoring.schemas import validate_records


def seed(team, wf, n=1):
    """n executions of workflow `wf` in `team`, each with a log, an error, a performance record and an alert."""
    raw = {"log": [], "error": [], "performance": [], "alert": []}
    for i in range(n):
        ex = f"{wf}-e{i}"
        raw["log"].append({"workflow_id": wf, "execution_id": ex, "log_level": "info", "message": f"{wf} step"})
        raw["error"].append({"workflow_id": wf, "execution_id": ex, "error_message": f"{wf} boom", "severity": "high"})
        raw["performance"].append({"workflow_id": wf, "execution_id": ex, "total_duration": 1200, "node_count": 3})
        raw["alert"].append({"workflow_id": wf, "execution_id": ex, "alert_type": "error", "severity": "critical",
                             "title": f"{wf} down"})
    valid = {}
    for kind, items in raw.items():
        valid[kind], errors = validate_records(kind, items)
        assert not errors
    return ingest(team, valid)


@pytest.fixture
def data(team, other_team):
    """Team acme has workflow acme-wf, team globex has globex-wf, each with every kind of record."""
    return {"a": seed(team, "acme-wf"), "b": seed(other_team, "globex-wf")}


def url(model, view="changelist", *args):
    return reverse(f"admin:monitoring_{model._meta.model_name}_{view}", args=args)


def login(user):
    client = Client()
    client.force_login(user)
    return client


def results(response):
    assert response.status_code == 200, response.status_code
    return list(response.context["cl"].result_list)


def team_slugs(objs):
    slugs = set()
    for obj in objs:
        team = obj.team if hasattr(obj, "team_id") else obj.workflow.team
        slugs.add(team.slug)
    return slugs


def action(client, model, name, *objs):
    return client.post(url(model), {"action": name, "_selected_action": [str(o.pk) for o in objs], "index": "0"})


def test_superuser_sees_every_team(data, make_user):
    client = login(make_user("root", superuser=True))
    for model in (Workflow, Execution, ExecutionLog, WorkflowError, PerformanceMetric, Alert):
        assert team_slugs(results(client.get(url(model)))) == {"acme", "globex"}, model


def test_team_admin_sees_only_their_teams(data, team, make_user):
    client = login(make_user("ada", team, "admin"))
    for model in (Workflow, Execution, ExecutionLog, WorkflowError, PerformanceMetric, Alert, Membership):
        assert team_slugs(results(client.get(url(model)))) == {"acme"}, model
    r = client.get(url(WorkflowError))
    assert b"acme-wf boom" in r.content and b"globex-wf" not in r.content
    assert [t.slug for t in results(client.get(url(type(team))))] == ["acme"]
    # The team filter offers their teams only.
    assert b"Globex" not in client.get(url(Alert)).content


def test_team_admin_cannot_open_or_change_other_teams_objects(data, other_team, make_user, team):
    client = login(make_user("ada", team, "admin"))
    workflow = Workflow.objects.get(team=other_team)
    error = WorkflowError.objects.get(workflow=workflow)
    for obj in (workflow, error, other_team):
        r = client.get(url(type(obj), "change", obj.pk))
        assert r.status_code == 302 and r.url == reverse("admin:index"), type(obj)
    r = client.post(url(Workflow, "change", workflow.pk),
                    {"team": other_team.pk, "source": "api", "external_id": "renamed", "name": "x", "tags": "[]"})
    assert r.status_code == 302
    assert Workflow.objects.get(pk=workflow.pk).external_id == "globex-wf"
    r = client.post(url(Workflow, "delete", workflow.pk), {"post": "yes"})
    assert Workflow.objects.filter(pk=workflow.pk).exists()
    # Nor through a bulk action on rows they cannot see.
    action(client, Workflow, "delete_selected", workflow)
    client.post(url(Workflow), {"action": "delete_selected", "_selected_action": [workflow.pk], "post": "yes"})
    assert Workflow.objects.filter(pk=workflow.pk).exists()


def test_team_admin_creates_workflows_in_their_team_only(team, other_team, make_user):
    client = login(make_user("ada", team, "admin"))
    r = client.get(url(Workflow, "add"))
    assert list(r.context["adminform"].form.fields["team"].queryset) == [team]
    form = {"source": "api", "external_id": "new-wf", "name": "New", "active": "on", "tags": "[]"}
    # A crafted POST naming another team's id is refused.
    r = client.post(url(Workflow, "add"), {**form, "team": other_team.pk})
    assert r.status_code == 200 and "team" in r.context["adminform"].form.errors
    assert not Workflow.objects.filter(team=other_team).exists()
    r = client.post(url(Workflow, "add"), {**form, "team": team.pk})
    assert r.status_code == 302
    assert Workflow.objects.get(external_id="new-wf").team == team


def test_team_admin_cannot_create_teams_or_see_super_admin_models(team, make_user):
    client = login(make_user("ada", team, "admin"))
    assert client.get(url(type(team), "add")).status_code == 403
    assert client.get(url(RetentionRun)).status_code == 403
    assert client.get(url(IdempotencyKey)).status_code == 403


def test_team_admin_deletes_a_workflow_with_its_records(data, team, make_user):
    client = login(make_user("ada", team, "admin"))
    workflow = Workflow.objects.get(team=team)
    r = client.post(url(Workflow, "delete", workflow.pk), {"post": "yes"})
    assert r.status_code == 302
    assert not Workflow.objects.filter(pk=workflow.pk).exists()
    assert not WorkflowError.objects.filter(workflow__team=team).exists()
    assert WorkflowError.objects.count() == 1  # globex's


def test_member_resolves_errors_through_the_service_with_audit_and_event(
    data, team, other_team, make_user, django_capture_on_commit_callbacks
):
    member = make_user("mia", team, "member")
    Membership.objects.create(team=other_team, user=member, role="viewer")
    client = login(member)
    mine = WorkflowError.objects.get(workflow__team=team)
    theirs = WorkflowError.objects.get(workflow__team=other_team)
    seen = []

    def listener(event, **kwargs):
        seen.append(event)

    events.monitoring_event.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            r = action(client, WorkflowError, "resolve", mine, theirs)
    finally:
        events.monitoring_event.disconnect(listener)
    assert r.status_code == 302
    mine.refresh_from_db()
    assert mine.resolved and mine.resolved_by == "mia" and mine.resolved_at is not None
    # Only a viewer in globex: its error stays open although it was selected.
    assert not WorkflowError.objects.get(pk=theirs.pk).resolved
    entry = LogEntry.objects.get_for_object(mine).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == member
    assert entry.changes_dict["resolved"] == ["False", "True"]
    assert [(e.type, e.action, e.data["id"]) for e in seen] == [("error", "updated", str(mine.pk))]


def test_member_acknowledges_and_resolves_alerts(data, team, make_user):
    client = login(make_user("mia", team, "member"))
    alert = Alert.objects.get(workflow__team=team)
    action(client, Alert, "acknowledge", alert)
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_by == "mia" and not alert.resolved
    action(client, Alert, "resolve", alert)
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "mia"


def test_member_change_form_resolves_but_cannot_edit_data(data, team, make_user):
    client = login(make_user("mia", team, "member"))
    error = WorkflowError.objects.get(workflow__team=team)
    r = client.post(url(WorkflowError, "change", error.pk),
                    {"resolved": "on", "resolution_notes": "restarted", "error_message": "edited", "_save": "Save"})
    assert r.status_code == 302
    error.refresh_from_db()
    assert error.resolved and error.resolved_by == "mia" and error.resolution_notes == "restarted"
    assert error.error_message == "acme-wf boom"
    # Records are data: no adding, no deleting for a member.
    assert client.get(url(WorkflowError, "add")).status_code == 403
    assert client.get(url(ExecutionLog, "add")).status_code == 403
    r = client.get(url(WorkflowError))
    assert [name for name, _ in r.context["action_form"].fields["action"].choices if name] == ["resolve"]


def test_team_admin_changes_an_execution_through_the_service(data, team, make_user):
    execution = Execution.objects.filter(workflow__team=team).get()
    execution.state = "running"
    execution.save()
    form = {"state": "canceled", "mode": "", "current_step": "", "step_number": "", "total_steps": "",
            "stopped_at_0": "", "stopped_at_1": "", "duration_ms": "", "external_id": "edited", "_save": "Save"}
    member = login(make_user("mia", team, "member"))
    assert member.post(url(Execution, "change", execution.pk), form).status_code == 403
    r = login(make_user("ada", team, "admin")).post(url(Execution, "change", execution.pk), form)
    assert r.status_code == 302
    execution.refresh_from_db()
    # update_execution closes a final execution; the external id is not the team admin's to edit.
    assert execution.state == "canceled" and execution.stopped_at is not None
    assert execution.external_id == "acme-wf-e0"


def test_alert_change_form_acknowledges_through_the_service(data, team, make_user):
    alert = Alert.objects.get(workflow__team=team)
    r = login(make_user("mia", team, "member")).post(
        url(Alert, "change", alert.pk), {"acknowledged": "on", "resolution_notes": "", "title": "x", "_save": "Save"}
    )
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_by == "mia" and alert.acknowledged_at is not None
    assert alert.title == "acme-wf down" and not alert.resolved


def test_viewer_changes_nothing(data, team, make_user):
    client = login(make_user("vic", team, "viewer"))
    error = WorkflowError.objects.get(workflow__team=team)
    r = client.get(url(WorkflowError))
    assert len(results(r)) == 1
    assert r.context["action_form"] is None  # no actions offered
    assert client.get(url(WorkflowError, "change", error.pk)).context["has_change_permission"] is False
    r = client.post(url(WorkflowError, "change", error.pk), {"resolved": "on", "_save": "Save"})
    assert r.status_code == 403
    action(client, WorkflowError, "resolve", error)
    workflow = Workflow.objects.get(team=team)
    r = client.post(url(Workflow, "change", workflow.pk),
                    {"team": team.pk, "source": "api", "external_id": "renamed", "name": "x", "tags": "[]"})
    assert r.status_code == 403
    assert not WorkflowError.objects.get(pk=error.pk).resolved
    assert Workflow.objects.get(pk=workflow.pk).external_id == "acme-wf"


def test_staff_without_membership_sees_no_monitoring(data, make_user):
    client = login(make_user("nobody"))
    r = client.get(reverse("admin:index"))
    assert r.status_code == 200
    assert not [app for app in r.context["app_list"] if app["app_label"] == "monitoring"]
    assert client.get(url(Workflow)).status_code == 403


def test_token_is_issued_and_shown_once(team, other_team, make_user):
    client = login(make_user("ada", team, "admin"))
    r = client.post(url(ServiceToken, "add"), {"team": other_team.pk, "name": "deploy"})
    assert r.status_code == 200 and not ServiceToken.objects.filter(team=other_team).exists()
    r = client.post(url(ServiceToken, "add"), {"team": team.pk, "name": "deploy"}, follow=True)
    assert r.status_code == 200
    raws = [raw for m in r.context["messages"] for raw in re.findall(r"ft_[A-Za-z0-9_-]{40,}", str(m))]
    assert len(raws) == 1
    token = ServiceToken.objects.get(name="deploy")
    assert token.team == team and token.created_by.username == "ada"
    assert hash_token(raws[0]) == token.token_hash and token.prefix == raws[0][:10]
    # Shown only once; the hash never.
    page = client.get(url(ServiceToken, "change", token.pk)).content.decode()
    assert raws[0] not in page and token.token_hash not in page
    assert raws[0] not in client.get(url(ServiceToken)).content.decode()


def test_revoke_action(team, make_user):
    client = login(make_user("ada", team, "admin"))
    token, _ = ServiceToken.issue(team, "ci")
    action(client, ServiceToken, "revoke", token)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert LogEntry.objects.get_for_object(token).filter(action=LogEntry.Action.UPDATE).exists()


def test_idempotency_keys_are_read_only_even_for_superusers(make_user):
    client = login(make_user("root", superuser=True))
    key = IdempotencyKey.objects.create(principal="user:1", key="k", request_hash="h", status_code=201, response={})
    assert client.get(url(IdempotencyKey, "change", key.pk)).status_code == 200
    assert client.post(url(IdempotencyKey, "change", key.pk), {"status_code": 500}).status_code == 403
    assert client.get(url(IdempotencyKey, "add")).status_code == 403
    assert IdempotencyKey.objects.get(pk=key.pk).status_code == 201


MONITORING_MODELS = [model for model in admin.site._registry if model._meta.app_label == "monitoring"]


def test_every_monitoring_model_is_registered():
    assert {m.__name__ for m in MONITORING_MODELS} == {
        "Team", "Membership", "ServiceToken", "Workflow", "Execution", "ExecutionLog", "WorkflowError",
        "PerformanceMetric", "Alert", "IdempotencyKey", "RetentionRun", "ErrorGroup",
    }


@pytest.fixture
def many(team, other_team):
    # Enough rows that a query per row would break the bound below.
    seed(team, "acme-wf", 6)
    seed(other_team, "globex-wf", 6)
    for i in range(6):
        for t in (team, other_team):
            user = get_user_model().objects.create_user(f"{t.slug}-user{i}")
            Membership.objects.create(team=t, user=user, role="viewer")
            ServiceToken.issue(t, f"ci-{i}", created_by=user)
    RetentionRun.objects.create(trigger="task", retention_days={"logs": 90}, deleted={"logs": 3})
    IdempotencyKey.objects.create(principal="user:1", key="k", request_hash="h", status_code=201, response={})


@pytest.mark.parametrize("model", MONITORING_MODELS, ids=lambda m: m.__name__)
def test_changelists_and_change_pages_load_without_n_plus_1(many, make_user, team, model,
                                                            django_assert_max_num_queries):
    root = make_user("root", superuser=True)
    Membership.objects.create(team=team, user=make_user("ada"), role="admin")
    client = login(root)
    with django_assert_max_num_queries(12):
        assert client.get(url(model)).status_code == 200
    obj = model.objects.first()
    assert client.get(url(model, "change", obj.pk)).status_code == 200
    if model not in (RetentionRun, IdempotencyKey):
        client = login(type(root).objects.get(username="ada"))
        with django_assert_max_num_queries(12):
            assert results(client.get(url(model)))


# --- memberships: a team admin adds people by username, without seeing other teams' accounts ----------------------
@pytest.fixture
def people(team, other_team, make_user):
    """ada administers acme; gus is in globex only; nomad has an account but no team."""
    return {"ada": make_user("ada", team, "admin"), "gus": make_user("gus-of-globex", other_team, "member"),
            "nomad": make_user("nomad")}


def add_membership(client, team, username, role="viewer"):
    return client.post(url(Membership, "add"), {"team": team.pk, "user": username, "role": role})


def form_errors(response):
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    return response.context["adminform"].form.errors


def test_team_admins_add_membership_form_lists_no_accounts(people):
    r = login(people["ada"]).get(url(Membership, "add"))
    assert r.status_code == 200
    assert b"gus-of-globex" not in r.content and b"nomad" not in r.content
    field = r.context["adminform"].form.fields["user"]
    assert isinstance(field.widget, forms.TextInput)


def test_team_admin_adds_a_member_by_exact_username(people, team):
    client = login(people["ada"])
    r = add_membership(client, team, "gus-of-globex", "member")
    assert r.status_code == 302, form_errors(r)
    assert Membership.objects.get(team=team, user=people["gus"]).role == "member"
    assert add_membership(client, team, "nomad").status_code == 302
    assert Membership.objects.filter(team=team, user=people["nomad"]).exists()


@pytest.mark.parametrize("typed", ["nobody", "Nomad", "nomad ", "gus", str(1)])
def test_an_unknown_username_is_just_no_such_user(people, team, typed):
    before = Membership.objects.count()
    errors = form_errors(add_membership(login(people["ada"]), team, typed))
    assert errors["user"] == ["No such user."]
    assert Membership.objects.count() == before


def test_team_admin_cannot_add_to_a_team_they_do_not_administer(people, other_team):
    errors = form_errors(add_membership(login(people["ada"]), other_team, "nomad"))
    assert "team" in errors
    assert not Membership.objects.filter(team=other_team, user=people["nomad"]).exists()


def test_team_admins_membership_page_shows_the_person_fixed(people, team):
    membership = Membership.objects.create(team=team, user=people["nomad"], role="viewer")
    client = login(people["ada"])
    r = client.get(url(Membership, "change", membership.pk))
    assert r.status_code == 200 and b"gus-of-globex" not in r.content and b"nomad" in r.content
    assert "user" not in r.context["adminform"].form.fields
    r = client.post(url(Membership, "change", membership.pk), {"team": team.pk, "user": "gus-of-globex",
                                                                "role": "member"})
    assert r.status_code == 302
    assert (Membership.objects.get(pk=membership.pk).user, Membership.objects.get(pk=membership.pk).role) == (
        people["nomad"], "member")


def test_super_admins_keep_the_full_list_of_accounts(people, make_user):
    r = login(make_user("root", superuser=True)).get(url(Membership, "add"))
    choices = [label for _, label in r.context["adminform"].form.fields["user"].choices]
    assert {"ada", "gus-of-globex", "nomad"} <= set(choices)
