"""/api/v1/alert-rules/: team admins manage their team's rules; everyone else in the team (and its
service tokens) reads them; other teams do not see them. A rule is checked by its kind's module
before it is saved: a bad threshold, a workflow of another team, a tag and a workflow together
are 400s naming the field."""

import pytest

from alerts.models import AlertRule, Channel
from alerting_api_world import EVERYONE, OUTSIDERS, READERS, ids, people, read_status, write_status  # noqa: F401
from monitoring.models import Workflow

URL = "/api/v1/alert-rules/"
ERROR_RATE = {"name": "Billing failing", "kind": "error_rate", "params": {"threshold_percent": 20}}


@pytest.fixture
def rule(team):
    return AlertRule.objects.create(team=team, name="Any failure", kind="execution_failed", severity="critical")


@pytest.fixture
def other_rule(other_team):
    return AlertRule.objects.create(team=other_team, name="Theirs", kind="execution_failed")


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_a_teams_rules(people, who, rule, other_rule):
    listed = ids(people[who].get(URL))
    assert (rule.pk in listed) == (who in READERS)
    assert (other_rule.pk in listed) == (who in OUTSIDERS or who == "superuser")
    assert people[who].get(f"{URL}{rule.pk}/").status_code == read_status(who)


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_create_rules(people, who):
    r = people[who].post(f"{URL}?team=acme", ERROR_RATE, format="json")
    assert r.status_code == write_status(who, 201), r.content
    assert AlertRule.objects.filter(name="Billing failing").exists() == (r.status_code == 201)


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_change_and_delete_rules(people, who, rule):
    r = people[who].patch(f"{URL}{rule.pk}/", {"enabled": False}, format="json")
    assert r.status_code == write_status(who, 200), r.content
    rule.refresh_from_db()
    assert rule.enabled == (r.status_code != 200)
    r = people[who].delete(f"{URL}{rule.pk}/")
    assert r.status_code == write_status(who, 204)
    assert AlertRule.objects.filter(pk=rule.pk).exists() == (r.status_code != 204)


def test_a_created_rule_is_answered_with_its_defaults_filled_in(people, team):
    workflow = Workflow.objects.create(team=team, external_id="wf-billing")
    channel = Channel.objects.create(team=team, name="ops", kind="log")
    r = people["admin_a"].post(URL, {**ERROR_RATE, "workflow": workflow.pk, "channels": [channel.pk],
                                     "for_seconds": 300}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["team"] == "acme" and body["workflow"] == workflow.pk and body["channels"] == [channel.pk]
    assert body["params"] == {"threshold_percent": 20, "window_minutes": 60, "min_executions": 5}
    assert (body["severity"], body["auto_resolve"], body["enabled"]) == ("warning", True, True)
    assert body["created_by"] == "ada"
    assert AlertRule.objects.get(pk=body["id"]).params["window_minutes"] == 60


def test_a_person_in_several_teams_names_the_team(people, make_user, team, other_team, client_for):
    from monitoring.models import Membership

    both = make_user("twice", team, "admin")
    Membership.objects.create(team=other_team, user=both, role="admin")
    r = client_for(both).post(URL, ERROR_RATE, format="json")
    assert r.status_code == 400 and "team" in r.json()
    assert client_for(both).post(f"{URL}?team=globex", ERROR_RATE, format="json").json()["team"] == "globex"


@pytest.mark.parametrize("body, field", [
    ({**ERROR_RATE, "params": {"threshold_percent": 150}}, "params"),
    ({**ERROR_RATE, "params": {}}, "params"),
    ({**ERROR_RATE, "params": {"threshold_percent": 20, "treshold": 1}}, "params"),
    ({**ERROR_RATE, "params": [1]}, "params"),
    ({**ERROR_RATE, "kind": "sometimes"}, "kind"),
    ({**ERROR_RATE, "severity": "urgent"}, "severity"),
    ({**ERROR_RATE, "for_seconds": -1}, "for_seconds"),
    ({**ERROR_RATE, "for_seconds": 10**12}, "for_seconds"),
    ({**ERROR_RATE, "name": ""}, "name"),
    ({**ERROR_RATE, "name": "x\x00"}, "name"),
    ({**ERROR_RATE, "colour": "red"}, "colour"),
    ({**ERROR_RATE, "id": 5}, "id"),
    ({**ERROR_RATE, "workflow": 10**15}, "workflow"),
    ({**ERROR_RATE, "workflow": "abc"}, "workflow"),
    ({**ERROR_RATE, "channels": [True]}, "channels"),
])
def test_bad_rules_are_400s_naming_the_field(people, body, field):
    r = people["admin_a"].post(URL, body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not AlertRule.objects.exclude(kind="regression").exists()  # only the teams' default rules


def test_a_bad_param_is_named_in_the_message(people):
    r = people["admin_a"].post(URL, {**ERROR_RATE, "params": {"threshold_percent": 150}}, format="json")
    assert any("threshold_percent" in message for message in r.json()["params"])


def test_a_workflow_and_a_tag_together_are_refused(people, team):
    workflow = Workflow.objects.create(team=team, external_id="wf-1")
    r = people["admin_a"].post(URL, {**ERROR_RATE, "workflow": workflow.pk, "tag": "billing"}, format="json")
    assert r.status_code == 400 and "tag" in r.json()


def test_another_teams_workflow_or_channel_is_refused_like_one_that_does_not_exist(people, other_team):
    theirs = Workflow.objects.create(team=other_team, external_id="wf-theirs")
    their_channel = Channel.objects.create(team=other_team, name="theirs", kind="log")
    r = people["admin_a"].post(URL, {**ERROR_RATE, "workflow": theirs.pk}, format="json")
    assert r.status_code == 400 and r.json()["workflow"] == [f"No workflow with id {theirs.pk} in this team."]
    r = people["admin_a"].post(URL, {**ERROR_RATE, "channels": [their_channel.pk]}, format="json")
    assert r.status_code == 400 and "channels" in r.json()
    # A super admin may write to every team, but still not mix them.
    r = people["superuser"].post(f"{URL}?team=acme", {**ERROR_RATE, "workflow": theirs.pk}, format="json")
    assert r.status_code == 400 and "workflow" in r.json()
    assert not AlertRule.objects.exclude(kind="regression").exists()  # only the teams' default rules


def test_a_change_is_checked_against_the_stored_rule(people, team):
    rule = AlertRule.objects.create(team=team, name="rate", kind="error_rate", params={"threshold_percent": 20})
    r = people["admin_a"].patch(f"{URL}{rule.pk}/", {"params": {"threshold_percent": 100}}, format="json")
    assert r.status_code == 400 and "params" in r.json()
    # Changing the kind re-checks the stored params against the new kind.
    r = people["admin_a"].patch(f"{URL}{rule.pk}/", {"kind": "slow"}, format="json")
    assert r.status_code == 400 and "params" in r.json()
    r = people["admin_a"].patch(f"{URL}{rule.pk}/", {"kind": "slow", "params": {"duration_ms": 60000}},
                                format="json")
    assert r.status_code == 200, r.content
    rule.refresh_from_db()
    assert rule.kind == "slow" and rule.params["duration_ms"] == 60000


def test_filters(people, team, rule):
    AlertRule.objects.create(team=team, name="off", kind="deactivated", enabled=False)
    assert ids(people["viewer_a"].get(URL, {"kind": "execution_failed"})) == {rule.pk}
    assert len(ids(people["viewer_a"].get(URL, {"enabled": "false"}))) == 1
    assert people["viewer_a"].get(URL, {"kind": "nope"}).status_code == 400
    assert ids(people["superuser"].get(URL, {"team": "acme"})) == set(AlertRule.objects.filter(team=team)
                                                                       .values_list("pk", flat=True))
