"""The "regression" rule kind: an error group someone resolved gets a new occurrence, monitoring
reopens it as regressed and publishes ("error_group", "regressed") after commit; the team's rule
raises one alert that says what came back, who had resolved it and when. Ignored groups, and
groups resolved again before the event is handled, raise nothing; another team never hears of it;
every new team starts with the rule."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.test import Client
from django.db import transaction

from alerts import evaluation_groups
from alerts.evaluation_events import evaluate_events
from alerts.models import AlertRule, Channel, Delivery, Route
from alerts.rules.registry import validate_params
from monitoring.events import MonitoringEvent, publish
from monitoring.models import ErrorGroup, ErrorGroupStatus, Team, WorkflowError
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401

TITLE = "Invalid payload: missing customer_id [line 3]"


def default_rule(team):
    return AlertRule.objects.get(team=team, kind="regression")


def resolved_group(world, workflow, *, days_ago=3, by="alice", title=TITLE, fingerprint="a"):
    """A group someone resolved `days_ago` days ago, with an occurrence resolved with it."""
    resolved_at = world.now - timedelta(days=days_ago)
    group = ErrorGroup.objects.create(
        team=workflow.team, workflow=workflow, fingerprint=fingerprint * 64, title=title, node_name="Code",
        error_type="data", first_seen=resolved_at - timedelta(days=1), last_seen=resolved_at, occurrences=5,
        affected_executions=5, status=ErrorGroupStatus.RESOLVED, resolved_at=resolved_at, resolved_by=by)
    execution = world.run(workflow, f"old-{fingerprint}", "error", started=resolved_at - timedelta(hours=1))
    WorkflowError.objects.create(workflow=workflow, execution=execution, error_type="data", node_name="Code",
                                 error_message=title, timestamp=resolved_at - timedelta(hours=1), group=group,
                                 resolved=True, resolved_at=resolved_at, resolved_by=by)
    return group


def group_data(group, **extra):
    """The event's data: the group's REST shape (times as ISO strings), plus what the event adds."""
    data = {name: getattr(group, name) for name in (
        "id", "title", "fingerprint", "node_name", "error_type", "error_code", "status", "regressed", "regressed_at",
        "first_seen", "last_seen", "occurrences", "affected_executions", "resolved_at", "resolved_by")}
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in {**data, **extra}.items()}


def occur(world, group, execution_id, *, after=None):
    """A new occurrence in `group`, filed the way ingestion files it: a resolved group reopens as
    regressed and its event is published in the same transaction. `after(group)` runs before the
    commit (a person acting on the group in the meantime)."""
    execution = world.run(group.workflow, execution_id, "error")
    with world.committed(), transaction.atomic():
        occurrence = WorkflowError.objects.create(
            workflow=group.workflow, execution=execution, error_type="data", node_name="Code",
            error_message=group.title, timestamp=world.now, group=group)
        group.refresh_from_db()
        group.occurrences += 1
        group.last_seen = world.now
        previous = group.resolved_at
        regressed = group.status == ErrorGroupStatus.RESOLVED
        if regressed:
            group.status, group.regressed, group.regressed_at = ErrorGroupStatus.OPEN, True, world.now
            group.resolved_at, group.resolved_by = None, ""
        group.save()
        if regressed:
            publish([MonitoringEvent("error_group", "regressed", group.team_id, group.workflow_id, group_data(
                group, error_id=str(occurrence.pk), execution_pk=execution.pk, previous_resolved_at=previous))])
        if after is not None:
            after(group)
    return occurrence


def settle(world, group, by="bob", status=ErrorGroupStatus.RESOLVED):
    """Resolve (or ignore) the group as monitoring.error_groups does: its open occurrences too, and
    an "updated" event."""
    with world.committed(), transaction.atomic():
        group.refresh_from_db()
        group.status, group.regressed = status, False
        group.resolved_at, group.resolved_by = (world.now, by) if status == ErrorGroupStatus.RESOLVED else (None, "")
        group.save()
        if status == ErrorGroupStatus.RESOLVED:
            group.errors.filter(resolved=False).update(resolved=True, resolved_at=world.now, resolved_by=by)
        publish([MonitoringEvent("error_group", "updated", group.team_id, group.workflow_id, group_data(group))])


def test_a_regression_raises_one_alert_that_says_what_came_back(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    group = resolved_group(world, wf)
    occur(world, group, "e-1")
    alert = open_alert(rule, wf)
    assert alert is not None
    assert (alert.alert_type, alert.severity, alert.occurrences) == ("error", "warning", 1)
    assert alert.labels["kind"] == "regression" and alert.execution.external_id == "e-1"
    assert alert.title == f"Regression: {TITLE} in BILLING"
    assert alert.description == (f"{TITLE} (node Code) was resolved by alice 3 days before: seen again at"
                                 f" {world.now:%Y-%m-%d %H:%M:%S} UTC in execution e-1. 6 occurrences in all.")


def test_more_occurrences_of_the_still_open_regression_raise_nothing_new(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    group = resolved_group(world, wf)
    first = occur(world, group, "e-1")
    world.later(minutes=5)
    occur(world, group, "e-2")  # the group is open: no event
    # The same event delivered twice (a retried task) is the same regression.
    with world.committed():
        evaluate_events([[evaluation_groups.REGRESSED, str(first.pk), None]])
    [alert] = alerts_of(rule)
    assert alert.occurrences == 1 and not alert.resolved and alert.execution.external_id == "e-1"


def test_resolving_the_group_again_resolves_the_alert_and_the_next_regression_is_a_new_one(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    group = resolved_group(world, wf)
    occur(world, group, "e-1")
    world.later(hours=1)
    settle(world, group, by="bob")
    [alert] = alerts_of(rule)
    assert alert.resolved and alert.resolved_by == "Flowtower (rule condition cleared)"
    world.later(days=2)
    occur(world, group, "e-2")
    assert len(alerts_of(rule)) == 2
    alert = open_alert(rule, wf)
    assert alert.occurrences == 1 and "was resolved by bob 2 days before" in alert.description


def test_one_open_alert_per_workflow_until_its_last_regression_is_settled(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    log = Channel.objects.create(team=world.team, name="ops", kind="log")
    Route.objects.create(team=world.team, name="everything", channel=log)
    first, second = resolved_group(world, wf, fingerprint="a"), resolved_group(world, wf, fingerprint="b")
    occur(world, first, "e-1")
    world.later(minutes=1)
    occur(world, second, "e-2")
    [alert] = alerts_of(rule)  # counted on the open alert: no second "firing" notification
    assert alert.occurrences == 2 and alert.execution.external_id == "e-2"
    assert list(Delivery.objects.values_list("event", flat=True)) == ["firing"]
    settle(world, first)
    assert open_alert(rule, wf) is not None  # the other group is still regressed
    settle(world, second, status=ErrorGroupStatus.IGNORED)
    assert open_alert(rule, wf) is None


def test_without_auto_resolve_the_next_regression_counts_on_the_open_alert(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    rule.auto_resolve = False
    rule.save()
    group = resolved_group(world, wf)
    occur(world, group, "e-1")
    settle(world, group)
    world.later(days=1)
    occur(world, group, "e-2")
    [alert] = alerts_of(rule)
    assert alert.occurrences == 2 and not alert.resolved


def test_ignored_groups_raise_nothing(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    group = resolved_group(world, wf)
    settle(world, group, status=ErrorGroupStatus.IGNORED)
    occur(world, group, "e-1")  # ingestion publishes nothing for an ignored group
    occurrence = WorkflowError.objects.get(group=group, resolved=False)
    # Nor does an event naming a group ignored between the event and its handling.
    with world.committed(), transaction.atomic():
        publish([MonitoringEvent("error_group", "regressed", group.team_id, wf.pk, group_data(
            group, error_id=str(occurrence.pk), execution_pk=occurrence.execution_id, previous_resolved_at=None))])
    assert alerts_of(rule) == []


def test_a_group_resolved_again_before_the_event_is_handled_raises_nothing(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    group = resolved_group(world, wf)
    occur(world, group, "e-1", after=lambda g: settle(world, g))
    assert alerts_of(rule) == []


def test_scope_and_teams(world, other_team):
    wf, tagged = world.workflow("billing"), world.workflow("crm", tags=["crm"])
    team_wide, crm_only = default_rule(world.team), world.rule("regression", tag="crm")
    one_workflow = world.rule("regression", workflow=tagged)
    theirs = default_rule(other_team)
    world.workflow("billing", team=other_team)  # the same external id in another team
    occur(world, resolved_group(world, wf), "e-1")
    assert len(alerts_of(team_wide)) == 1
    assert alerts_of(crm_only) == alerts_of(one_workflow) == alerts_of(theirs) == []
    occur(world, resolved_group(world, tagged), "e-2")
    assert len(alerts_of(crm_only)) == len(alerts_of(one_workflow)) == 1 and alerts_of(theirs) == []


def test_a_for_duration_fires_from_the_window_pass_with_plain_wording(world):
    wf = world.workflow("billing")
    rule = default_rule(world.team)
    rule.for_seconds = 300
    rule.save()
    occur(world, resolved_group(world, wf), "e-1")
    assert alerts_of(rule) == []
    world.later(minutes=6)
    world.window_pass()
    assert open_alert(rule, wf).title == "Regression in BILLING"


def test_every_new_team_starts_with_the_rule(db):
    team = Team.objects.create(slug="newco", name="Newco")
    [rule] = AlertRule.objects.filter(team=team)
    assert (rule.name, rule.kind, rule.params, rule.enabled) == ("Error regressions", "regression", {}, True)
    assert rule.workflow is None and rule.tag == "" and rule.auto_resolve
    team.name = "Newco Ltd"
    team.save()
    assert AlertRule.objects.filter(team=team).count() == 1


def test_params_are_none():
    assert validate_params("regression", {}) == {}
    try:
        validate_params("regression", {"min_severity": "high"})
    except ValidationError as exc:
        assert exc.message_dict == {"min_severity": ["Unknown parameter for this kind of rule."]}
    else:
        raise AssertionError("unknown params accepted")


def test_the_api_takes_the_kind_without_params_and_names_a_bad_one(team, make_user, client_for):
    admin = client_for(make_user("ada", team, "admin"))
    r = admin.post("/api/v1/alert-rules/", {"name": "Billing regressions", "kind": "regression", "params": {},
                                             "severity": "critical"}, format="json")
    assert r.status_code == 201, r.content
    assert (r.json()["kind"], r.json()["params"]) == ("regression", {})
    r = admin.post("/api/v1/alert-rules/", {"name": "typo", "kind": "regression", "params": {"min_severity": "high"}},
                   format="json")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert "min_severity" in str(r.json()["params"])
    listed = admin.get("/api/v1/alert-rules/", {"kind": "regression"}).json()["results"]
    assert sorted(rule["name"] for rule in listed) == ["Billing regressions", "Error regressions"]


def test_the_rules_pages_show_the_default_rule_and_offer_the_kind(team, make_user):
    client = Client()
    client.force_login(make_user("ada", team, "admin"))
    page = client.get("/rules/").content.decode()
    assert "Error regressions" in page
    page = client.get("/rules/new/").content.decode()
    assert '<option value="regression">Error regression</option>' in page
    assert "<code>regression</code>: an error group that someone resolved gets a new occurrence" in page
    page = client.get(f"/rules/{default_rule(team).pk}/")
    assert page.status_code == 200 and 'value="regression" selected' in page.content.decode()


def test_end_to_end_an_error_posted_resolved_and_posted_again_alerts_once(world, api):
    """Through the REST API, monitoring's own grouping and resolve_group, and the notification
    pipeline (a log channel every alert is routed to)."""
    from monitoring.error_groups import resolve_group

    rule = default_rule(world.team)
    log = Channel.objects.create(team=world.team, name="ops", kind="log")
    Route.objects.create(team=world.team, name="everything", channel=log)

    def notified():
        return sorted(Delivery.objects.filter(channel=log).values_list("event", flat=True))

    def post_error(execution_id, customer):
        body = {"workflow_id": "orders", "execution_id": execution_id, "error_type": "data", "severity": "high",
                "node_name": "Code", "error_message": f"Invalid payload: missing customer_id {customer} [line 3]"}
        with world.committed():
            r = api.post("/api/v1/errors/", body, format="json")
        assert r.status_code == 201, r.content

    post_error("e-1", 4711)
    group = ErrorGroup.objects.get()
    world.later(days=3)
    with world.committed():
        resolve_group(group, "alice")
    world.later(hours=2)
    post_error("e-2", 4712)
    group.refresh_from_db()
    assert (group.status, group.regressed, group.occurrences) == ("open", True, 2)
    [alert] = alerts_of(rule)
    assert alert.execution.external_id == "e-2" and alert.occurrences == 1
    assert "was resolved by alice 2 hours before" in alert.description
    assert notified() == ["firing"]
    world.later(minutes=5)
    post_error("e-3", 4713)
    [alert] = alerts_of(rule)
    assert alert.occurrences == 1 and not alert.resolved
    assert notified() == ["firing"]
    with world.committed():
        resolve_group(group, "bob")
    alert.refresh_from_db()
    assert alert.resolved and notified() == ["firing", "resolved"]


def test_the_alert_names_who_resolved_it_after_retention_deleted_every_occurrence(world, api):
    """Who resolved the group and when travel with the regression event (read under the group's
    lock before it reopened), not from occurrences retention may have deleted."""
    from monitoring.error_groups import resolve_group

    rule = default_rule(world.team)

    def post_error(execution_id):
        body = {"workflow_id": "orders", "execution_id": execution_id, "error_type": "data", "severity": "high",
                "node_name": "Code", "error_message": "Invalid payload: missing customer_id [line 3]"}
        with world.committed():
            assert api.post("/api/v1/errors/", body, format="json").status_code == 201

    post_error("e-1")
    group = ErrorGroup.objects.get()
    world.later(days=40)
    with world.committed():
        resolve_group(group, "alice")
    WorkflowError.objects.filter(group=group).delete()  # retention, weeks later
    world.later(days=20)
    post_error("e-2")
    [alert] = alerts_of(rule)
    assert "was resolved by alice 2 weeks before" in alert.description
