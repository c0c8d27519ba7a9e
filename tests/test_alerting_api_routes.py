"""/api/v1/routes/: which of a team's alerts go to which of its channels. Team admins manage them,
the rest of the team and its tokens read them, other teams do not see them; a route may only name
its own team's channels and rules (another team's id is a 400 naming the field)."""

import pytest

from alerts.models import AlertRule, Channel, Route
from alerting_api_world import EVERYONE, OUTSIDERS, READERS, ids, people, read_status, write_status  # noqa: F401

URL = "/api/v1/routes/"


@pytest.fixture
def channel(team):
    return Channel.objects.create(team=team, name="ops", kind="log")


@pytest.fixture
def route(team, channel):
    return Route.objects.create(team=team, name="criticals to ops", channel=channel, severities=["critical"])


@pytest.fixture
def other_route(other_team):
    theirs = Channel.objects.create(team=other_team, name="theirs", kind="log")
    return Route.objects.create(team=other_team, name="theirs", channel=theirs)


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_a_teams_routes(people, who, route, other_route):
    listed = ids(people[who].get(URL))
    assert (route.pk in listed) == (who in READERS)
    assert (other_route.pk in listed) == (who in OUTSIDERS or who == "superuser")
    assert people[who].get(f"{URL}{route.pk}/").status_code == read_status(who)


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_create_change_and_delete_routes(people, who, channel, route):
    r = people[who].post(f"{URL}?team=acme", {"name": "all", "channel": channel.pk}, format="json")
    assert r.status_code == write_status(who, 201), r.content
    r = people[who].patch(f"{URL}{route.pk}/", {"repeat_interval_minutes": 60}, format="json")
    assert r.status_code == write_status(who, 200), r.content
    r = people[who].delete(f"{URL}{route.pk}/")
    assert r.status_code == write_status(who, 204)
    assert Route.objects.filter(pk=route.pk).exists() == (r.status_code != 204)


def test_a_route_with_rules_tags_and_escalation(people, team, channel):
    pager = Channel.objects.create(team=team, name="pager", kind="log")
    rule = AlertRule.objects.create(team=team, name="failures", kind="execution_failed")
    r = people["admin_a"].post(URL, {
        "name": "billing", "channel": channel.pk, "severities": ["warning", "critical"], "rules": [rule.pk],
        "tags": ["billing"], "repeat_interval_minutes": 30, "escalation_channel": pager.pk,
        "escalate_after_minutes": 15,
    }, format="json")
    assert r.status_code == 201, r.content
    route = Route.objects.get(pk=r.json()["id"])
    assert (route.channel, route.escalation_channel, list(route.rules.all())) == (channel, pager, [rule])
    assert (route.severities, route.tags, route.repeat_interval_minutes) == (["warning", "critical"], ["billing"], 30)
    assert r.json()["rules"] == [rule.pk] and r.json()["team"] == "acme" and r.json()["enabled"] is True


def test_another_teams_channel_escalation_channel_or_rule_is_a_400_naming_the_field(people, other_team, channel):
    theirs = Channel.objects.create(team=other_team, name="theirs", kind="log")
    their_rule = AlertRule.objects.create(team=other_team, name="theirs", kind="execution_failed")
    for body, field in (({"channel": theirs.pk}, "channel"),
                        ({"channel": channel.pk, "escalation_channel": theirs.pk}, "escalation_channel"),
                        ({"channel": channel.pk, "rules": [their_rule.pk]}, "rules")):
        r = people["admin_a"].post(URL, {"name": "r", **body}, format="json")
        assert r.status_code == 400, r.content
        assert field in r.json() and "in this team" in str(r.json()[field]), r.json()
    assert not Route.objects.filter(team__slug="acme").exists()


def test_a_change_cannot_move_a_route_to_another_teams_channel(people, other_team, route):
    theirs = Channel.objects.create(team=other_team, name="theirs", kind="log")
    r = people["admin_a"].patch(f"{URL}{route.pk}/", {"channel": theirs.pk}, format="json")
    assert r.status_code == 400 and "channel" in r.json()
    route.refresh_from_db()
    assert route.channel.team.slug == "acme"


@pytest.mark.parametrize("change, field", [
    ({"channel": None}, "channel"),
    ({"severities": ["urgent"]}, "severities"),
    ({"severities": ["critical", "critical"]}, "severities"),
    ({"severities": "critical"}, "severities"),
    ({"tags": ["x" * 101]}, "tags"),
    ({"repeat_interval_minutes": 0}, "repeat_interval_minutes"),
    ({"escalate_after_minutes": 2**40}, "escalate_after_minutes"),
    ({"enabled": "maybe"}, "enabled"),
    ({"team": "globex"}, "team"),
])
def test_bad_routes_are_400s_naming_the_field(people, channel, change, field):
    r = people["admin_a"].post(URL, {"name": "r", "channel": channel.pk, **change}, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not Route.objects.exists()


def test_filter_by_channel(people, team, route, channel):
    other = Channel.objects.create(team=team, name="other", kind="log")
    Route.objects.create(team=team, name="to other", channel=other)
    assert ids(people["member_a"].get(URL, {"channel": channel.pk})) == {route.pk}
    assert people["member_a"].get(URL, {"channel": "x"}).status_code == 400
    assert people["member_a"].get(URL, {"channel": 2**40}).status_code == 400
