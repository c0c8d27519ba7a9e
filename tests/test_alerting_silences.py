"""Silences: what they match, when they are in effect (one-off and weekly windows across daylight
saving changes), the validation people get, and "silence this alert for…"."""

from datetime import datetime, time, timedelta, timezone as dt_timezone

import pytest
from django.core.exceptions import ValidationError

from alerts.models import AlertRule, Silence
from alerts.silences import (
    active_silences, is_active, matches, silence_for, validate_matchers, validate_schedule, validate_silence,
)
from monitoring.models import Workflow
from monitoring.services import raise_alert

UTC = dt_timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-orders", name="Orders", tags=["billing", "nightly"])


@pytest.fixture
def rule(team):
    return AlertRule.objects.create(team=team, name="Failures", kind="execution_failed", severity="warning")


def rule_alert(team, rule, workflow, severity="warning"):
    return raise_alert(team, fingerprint=f"rule:{rule.pk}:wf:{workflow.pk}", alert_type="error", severity=severity,
                       title="Orders failed", source="rule", workflow=workflow,
                       labels={"rule": str(rule.pk), "rule_name": rule.name, "kind": rule.kind})[0]


def am_alert(team, **labels):
    return raise_alert(team, fingerprint="am:abc123", alert_type="resource", severity="critical",
                       title="Disk almost full", source="alertmanager", labels=labels)[0]


def silence(team, matchers=None, **fields):
    fields.setdefault("starts_at", utc(2025, 1, 1))
    fields.setdefault("ends_at", utc(2026, 1, 1))
    return Silence(team=team, matchers=matchers or {}, **fields)


# ---- one-off time range ------------------------------------------------------------------------

def test_a_one_off_silence_is_in_effect_from_its_start_until_it_expires(team):
    muted = silence(team, starts_at=utc(2025, 5, 1, 10), ends_at=utc(2025, 5, 1, 12))
    assert not is_active(muted, utc(2025, 5, 1, 9, 59))
    assert is_active(muted, utc(2025, 5, 1, 10))
    assert is_active(muted, utc(2025, 5, 1, 11, 59))
    # Expired: nobody has to remove it.
    assert not is_active(muted, utc(2025, 5, 1, 12))


def test_active_silences_lists_only_the_teams_silences_in_effect(team, other_team):
    now = utc(2025, 5, 1, 11)
    current = silence(team, starts_at=utc(2025, 5, 1, 10), ends_at=utc(2025, 5, 1, 12))
    current.save()
    silence(team, starts_at=utc(2025, 4, 1), ends_at=utc(2025, 4, 2)).save()  # expired
    silence(other_team, starts_at=utc(2025, 5, 1, 10), ends_at=utc(2025, 5, 1, 12)).save()
    # A maintenance window that is closed right now (Sundays only; 1 May 2025 is a Thursday).
    silence(team, weekdays=[7], daily_start=time(2), duration_minutes=60).save()
    assert active_silences(team.pk, now) == [current]


# ---- weekly windows and daylight saving time -----------------------------------------------------

def sunday_night_berlin(team):
    """Every Sunday 02:00–04:00 Berlin time, all of 2025."""
    return silence(team, weekdays=[7], daily_start=time(2, 0), duration_minutes=120, time_zone="Europe/Berlin")


def test_weekly_window_on_an_ordinary_summer_sunday(team):
    window = sunday_night_berlin(team)
    # 6 April 2025, CEST (UTC+2): 02:00–04:00 local is 00:00–02:00 UTC.
    assert not is_active(window, utc(2025, 4, 5, 23, 59))
    assert is_active(window, utc(2025, 4, 6, 0, 0))
    assert is_active(window, utc(2025, 4, 6, 1, 59))
    assert not is_active(window, utc(2025, 4, 6, 2, 0))
    # Same clock time on a Monday: not a window day.
    assert not is_active(window, utc(2025, 4, 7, 0, 30))


def test_weekly_window_on_the_spring_forward_sunday_starts_when_the_clock_jumps(team):
    window = sunday_night_berlin(team)
    # 30 March 2025: at 02:00 CET the clocks jump to 03:00 CEST; 02:00–03:00 never happens.
    # The window opens at the jump (01:00 UTC) and still closes at 04:00 CEST (02:00 UTC).
    assert not is_active(window, utc(2025, 3, 30, 0, 59))  # 01:59 CET
    assert is_active(window, utc(2025, 3, 30, 1, 0))  # 03:00 CEST
    assert is_active(window, utc(2025, 3, 30, 1, 59))  # 03:59 CEST
    assert not is_active(window, utc(2025, 3, 30, 2, 0))  # 04:00 CEST


def test_weekly_window_on_the_fall_back_sunday_covers_both_passes_of_the_repeated_hour(team):
    window = sunday_night_berlin(team)
    # 26 October 2025: at 03:00 CEST the clocks go back to 02:00 CET; 02:00–03:00 happens twice.
    # The window opens at the first 02:00 (CEST, 00:00 UTC) and closes at 04:00 CET (03:00 UTC).
    assert not is_active(window, utc(2025, 10, 25, 23, 59))  # 01:59 CEST
    assert is_active(window, utc(2025, 10, 26, 0, 0))  # 02:00 CEST
    assert is_active(window, utc(2025, 10, 26, 1, 30))  # 02:30 CET, the second pass
    assert is_active(window, utc(2025, 10, 26, 2, 59))  # 03:59 CET
    assert not is_active(window, utc(2025, 10, 26, 3, 0))  # 04:00 CET


def test_weekly_window_across_midnight_belongs_to_the_day_it_opens(team):
    # Saturdays 23:00 for three hours, UTC.
    window = silence(team, weekdays=[6], daily_start=time(23, 0), duration_minutes=180)
    assert is_active(window, utc(2025, 5, 3, 23, 30))  # Saturday
    assert is_active(window, utc(2025, 5, 4, 1, 59))  # Sunday, still the Saturday window
    assert not is_active(window, utc(2025, 5, 4, 2, 0))
    assert not is_active(window, utc(2025, 5, 4, 23, 30))  # Sunday 23:30: not a window day


def test_weekly_windows_stop_when_the_silence_expires(team):
    window = sunday_night_berlin(team)
    window.ends_at = utc(2025, 4, 6, 1, 0)
    assert is_active(window, utc(2025, 4, 6, 0, 59))
    assert not is_active(window, utc(2025, 4, 6, 1, 0))
    assert not is_active(window, utc(2025, 4, 13, 0, 30))  # the next Sunday


# ---- matching ----------------------------------------------------------------------------------

def test_matchers_select_by_workflow_tag_type_severity_and_rule(team, workflow, rule):
    alert = rule_alert(team, rule, workflow)
    assert matches(silence(team), alert)  # no matchers: everything of the team
    assert matches(silence(team, {"workflow": "wf-orders", "severity": "warning"}), alert)
    assert matches(silence(team, {"tag": "nightly", "alert_type": "error", "rule": rule.pk}), alert)
    assert matches(silence(team, {"team": team.slug}), alert)
    assert not matches(silence(team, {"workflow": "wf-other"}), alert)
    assert not matches(silence(team, {"tag": "marketing"}), alert)
    assert not matches(silence(team, {"severity": "critical"}), alert)
    assert not matches(silence(team, {"rule": rule.pk + 1}), alert)
    # Every matcher must match, not just one.
    assert not matches(silence(team, {"workflow": "wf-orders", "severity": "critical"}), alert)


def test_a_silence_never_matches_another_teams_alert(team, other_team, workflow, rule):
    alert = rule_alert(team, rule, workflow)
    assert not matches(silence(other_team), alert)


def test_alertmanager_alerts_match_by_their_labels(team):
    alert = am_alert(team, alertname="DiskFull", instance="db-1", severity="critical")
    assert matches(silence(team, {"labels": {"alertname": "DiskFull"}}), alert)
    assert matches(silence(team, {"labels": {"alertname": "DiskFull", "instance": "db-1"}}), alert)
    assert not matches(silence(team, {"labels": {"alertname": "DiskFull", "instance": "db-2"}}), alert)
    assert not matches(silence(team, {"labels": {"job": "node"}}), alert)
    # An alert without a workflow matches no workflow or tag matcher.
    assert not matches(silence(team, {"workflow": "wf-orders"}), alert)


def test_a_prometheus_label_named_rule_is_not_taken_for_a_flowtower_rule(team, rule):
    alert = am_alert(team, alertname="X", rule=str(rule.pk))
    assert not matches(silence(team, {"rule": rule.pk}), alert)
    assert matches(silence(team, {"labels": {"rule": str(rule.pk)}}), alert)


# ---- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("matchers, field", [
    ({"severity": "urgent"}, "severity"),
    ({"alert_type": "boom"}, "alert_type"),
    ({"workflow": ""}, "workflow"),
    ({"tag": 5}, "tag"),
    ({"rule": "abc"}, "rule"),
    ({"rule": 0}, "rule"),
    ({"labels": ["a"]}, "labels"),
    ({"labels": {"alertname": 3}}, "labels"),
    ({"team": "globex"}, "team"),
    ({"colour": "red"}, "colour"),
])
def test_bad_matchers_are_refused_naming_the_matcher(team, matchers, field):
    with pytest.raises(ValidationError) as caught:
        validate_matchers(matchers, team)
    assert list(caught.value.message_dict) == [field]


def test_matchers_must_be_an_object(team):
    with pytest.raises(ValidationError) as caught:
        validate_matchers(["workflow"], team)
    assert list(caught.value.message_dict) == ["matchers"]


def test_a_rule_matcher_must_name_one_of_the_teams_rules(team, other_team, rule):
    assert validate_matchers({"rule": str(rule.pk)}, team) == {"rule": rule.pk}
    with pytest.raises(ValidationError) as caught:
        validate_matchers({"rule": rule.pk}, other_team)
    assert "rule" in caught.value.message_dict


@pytest.mark.parametrize("fields, field", [
    ({"ends_at": utc(2025, 1, 1)}, "ends_at"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": "../../etc/passwd"}, "time_zone"),
    ({"weekdays": [0]}, "weekdays"),
    ({"weekdays": [8], "daily_start": time(2), "duration_minutes": 60}, "weekdays"),
    ({"weekdays": [1, 1], "daily_start": time(2), "duration_minutes": 60}, "weekdays"),
    ({"weekdays": [1], "duration_minutes": 60}, "daily_start"),
    ({"weekdays": [1], "daily_start": time(2)}, "duration_minutes"),
    ({"weekdays": [1], "daily_start": time(2), "duration_minutes": 0}, "duration_minutes"),
    ({"daily_start": time(2), "duration_minutes": 60}, "weekdays"),
])
def test_bad_schedules_are_refused_naming_the_field(fields, field):
    schedule = {"starts_at": utc(2025, 1, 1), "ends_at": utc(2025, 2, 1)} | fields
    with pytest.raises(ValidationError) as caught:
        validate_schedule(**schedule)
    assert field in caught.value.message_dict


def test_validate_silence_reports_every_field_at_fault(team):
    bad = silence(team, {"severity": "loud"}, ends_at=utc(2024, 1, 1), time_zone="Nowhere/City")
    with pytest.raises(ValidationError) as caught:
        validate_silence(bad)
    errors = caught.value.message_dict
    assert set(errors) == {"matchers", "ends_at", "time_zone"}
    assert errors["matchers"][0].startswith("severity:")


def test_a_valid_recurring_silence_passes(team):
    validate_silence(sunday_night_berlin(team))


# ---- "silence this alert for…" ------------------------------------------------------------------

def test_silence_for_a_rule_alert_mutes_that_rule_on_that_workflow_for_the_minutes_given(team, workflow, rule):
    alert = rule_alert(team, rule, workflow)
    now = utc(2025, 6, 1, 12)
    prefilled = silence_for(alert, 30, "alice", at=now)
    assert prefilled.matchers == {"rule": rule.pk, "workflow": "wf-orders"}
    assert prefilled.created_by == "alice"
    prefilled.save()
    validate_silence(prefilled)
    assert matches(prefilled, alert) and is_active(prefilled, now + timedelta(minutes=29))
    assert not is_active(prefilled, now + timedelta(minutes=30))
    # Another workflow's failure of the same rule stays loud.
    other = rule_alert(team, rule, Workflow.objects.create(team=team, external_id="wf-other"))
    assert not matches(prefilled, other)


def test_silence_for_an_alertmanager_alert_matches_its_labels(team):
    alert = am_alert(team, alertname="DiskFull", instance="db-1")
    prefilled = silence_for(alert, 60, "bob")
    assert prefilled.matchers == {"labels": {"alertname": "DiskFull", "instance": "db-1"}}
    assert matches(prefilled, alert)


def test_silence_for_a_posted_alert_matches_its_workflow_and_type(team, workflow):
    alert = raise_alert(team, fingerprint="p1", alert_type="timeout", severity="warning", title="Slow",
                        workflow=workflow)[0]
    prefilled = silence_for(alert, 15, "carol")
    assert prefilled.matchers == {"alert_type": "timeout", "workflow": "wf-orders"}
    assert matches(prefilled, alert)


def test_silence_for_needs_a_positive_number_of_minutes(team, workflow, rule):
    with pytest.raises(ValidationError) as caught:
        silence_for(rule_alert(team, rule, workflow), 0, "alice")
    assert "minutes" in caught.value.message_dict
