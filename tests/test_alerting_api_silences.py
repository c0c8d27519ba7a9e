"""/api/v1/silences/: team admins create, change, expire and delete their team's silences
(one-off or weekly maintenance windows); the rest of the team and its tokens read them. Matchers,
times and time zones are checked by alerts.silences: a bad one is a 400 naming the field."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.models import AlertRule, Silence
from alerting_api_world import EVERYONE, OUTSIDERS, READERS, ids, people, read_status, write_status  # noqa: F401

URL = "/api/v1/silences/"


def in_hours(hours):
    return (timezone.now() + timedelta(hours=hours)).isoformat()


@pytest.fixture
def silence(team):
    return Silence.objects.create(team=team, matchers={"workflow": "wf-1"}, ends_at=timezone.now() + timedelta(hours=2),
                                  comment="deploy")


@pytest.fixture
def other_silence(other_team):
    return Silence.objects.create(team=other_team, matchers={}, ends_at=timezone.now() + timedelta(hours=2))


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_a_teams_silences(people, who, silence, other_silence):
    listed = ids(people[who].get(URL))
    assert (silence.pk in listed) == (who in READERS)
    assert (other_silence.pk in listed) == (who in OUTSIDERS or who == "superuser")
    assert people[who].get(f"{URL}{silence.pk}/").status_code == read_status(who)


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_create_change_expire_and_delete_silences(people, who, silence):
    r = people[who].post(f"{URL}?team=acme", {"matchers": {"severity": "info"}, "ends_at": in_hours(1)}, format="json")
    assert r.status_code == write_status(who, 201), r.content
    r = people[who].patch(f"{URL}{silence.pk}/", {"comment": "longer deploy"}, format="json")
    assert r.status_code == write_status(who, 200), r.content
    r = people[who].post(f"{URL}{silence.pk}/expire/")
    assert r.status_code == write_status(who, 200), r.content
    r = people[who].delete(f"{URL}{silence.pk}/")
    assert r.status_code == write_status(who, 204)
    assert Silence.objects.filter(pk=silence.pk).exists() == (r.status_code != 204)


def test_a_created_silence_records_who_and_is_in_effect(people, team):
    rule = AlertRule.objects.create(team=team, name="failures", kind="execution_failed")
    r = people["admin_a"].post(URL, {"matchers": {"rule": rule.pk, "labels": {"env": "prod"}}, "ends_at": in_hours(1),
                                     "comment": "noisy during migration"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["created_by"] == "ada" and body["active"] is True and body["team"] == "acme"
    assert body["matchers"] == {"rule": rule.pk, "labels": {"env": "prod"}} and body["time_zone"] == "UTC"


def test_a_weekly_maintenance_window(people):
    r = people["admin_a"].post(URL, {
        "matchers": {"tag": "billing"}, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
        "weekdays": [7], "daily_start": "02:00", "duration_minutes": 120, "time_zone": "Europe/Berlin",
        "comment": "Sunday maintenance"}, format="json")
    assert r.status_code == 201, r.content
    silence = Silence.objects.get(pk=r.json()["id"])
    assert (silence.weekdays, str(silence.daily_start), silence.time_zone) == ([7], "02:00:00", "Europe/Berlin")
    with time_machine.travel("2026-03-08T01:30:00Z"):  # a Sunday, 02:30 in Berlin
        assert people["viewer_a"].get(f"{URL}{silence.pk}/").json()["active"] is True
    with time_machine.travel("2026-03-09T01:30:00Z"):  # Monday
        assert people["viewer_a"].get(f"{URL}{silence.pk}/").json()["active"] is False


def test_expire_ends_it_now_and_keeps_it_on_record(people, silence):
    r = people["admin_a"].post(f"{URL}{silence.pk}/expire/")
    assert r.status_code == 200 and r.json()["active"] is False
    silence.refresh_from_db()
    assert silence.ends_at <= timezone.now()
    ended = silence.ends_at
    # Expiring an expired silence changes nothing.
    assert people["admin_a"].post(f"{URL}{silence.pk}/expire/").status_code == 200
    silence.refresh_from_db()
    assert silence.ends_at == ended


@pytest.mark.parametrize("body, field", [
    ({"matchers": {"colour": "red"}, "ends_at": in_hours(1)}, "matchers"),
    ({"matchers": {"severity": "urgent"}, "ends_at": in_hours(1)}, "matchers"),
    ({"matchers": {"rule": 999999}, "ends_at": in_hours(1)}, "matchers"),
    ({"matchers": "everything", "ends_at": in_hours(1)}, "matchers"),
    ({"matchers": {}}, "ends_at"),
    ({"matchers": {}, "ends_at": "soon"}, "ends_at"),
    ({"matchers": {}, "starts_at": in_hours(2), "ends_at": in_hours(1)}, "ends_at"),
    ({"matchers": {}, "ends_at": "0001-01-01T00:00:00+01:00"}, "ends_at"),
    ({"matchers": {}, "ends_at": in_hours(1), "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"matchers": {}, "ends_at": in_hours(1), "weekdays": [8]}, "weekdays"),
    ({"matchers": {}, "ends_at": in_hours(1), "weekdays": [1]}, "daily_start"),
    ({"matchers": {}, "ends_at": in_hours(1), "duration_minutes": 30}, "weekdays"),
    ({"matchers": {}, "ends_at": in_hours(1), "created_by": "someone else"}, "created_by"),
])
def test_bad_silences_are_400s_naming_the_field(people, body, field):
    r = people["admin_a"].post(URL, body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not Silence.objects.exists()


def test_a_rule_matcher_must_be_a_rule_of_the_team(people, other_team):
    theirs = AlertRule.objects.create(team=other_team, name="theirs", kind="execution_failed")
    r = people["admin_a"].post(URL, {"matchers": {"rule": theirs.pk}, "ends_at": in_hours(1)}, format="json")
    assert r.status_code == 400 and "matchers" in r.json()


def test_a_change_is_checked_with_the_stored_times(people, silence):
    r = people["admin_a"].patch(f"{URL}{silence.pk}/", {"starts_at": in_hours(3)}, format="json")
    assert r.status_code == 400 and "ends_at" in r.json()
