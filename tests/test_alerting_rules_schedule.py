"""The no-executions rule without every_minutes holds each workflow to its own schedule (its
expected_interval_minutes, from the n8n mirror or the REST API): a scheduled workflow that misses
its runs fires, one that runs does not, one without a schedule is never watched, and a rule's
every_minutes still overrides every schedule."""

import pytest
from django.core.exceptions import ValidationError

from alerts.models import AlertRule
from alerts.rules.registry import validate_rule
from alerts.web.rule_forms import params_help
from monitoring import services
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401


def scheduled(world, name, every):
    workflow = world.workflow(name)
    services.update_workflow(workflow, {"expected_interval_minutes": every})
    workflow.refresh_from_db()
    return workflow


def test_a_scheduled_workflow_that_misses_its_runs_fires_and_resolves_when_one_starts(world):
    hourly = scheduled(world, "hourly", 60)
    busy = scheduled(world, "busy", 60)
    unscheduled = world.workflow("adhoc")
    world.later(hours=1)
    rule = world.rule("no_executions", {"grace_minutes": 10})
    assert rule.params == {"grace_minutes": 10}  # valid without every_minutes
    world.run(hourly, "h1", "success")
    world.later(minutes=69)
    world.run(busy, "b1", "success")
    world.window_pass()
    assert alerts_of(rule) == []
    world.later(minutes=2)  # hourly: 71 min without a run, past 60 + 10
    world.window_pass()
    alert = open_alert(rule, hourly)
    assert alert is not None and alerts_of(rule) == [alert]
    assert "no execution in the last 70 min" in alert.description
    assert "on its schedule, every 60 min, grace 10 min" in alert.description
    assert open_alert(rule, busy) is None and open_alert(rule, unscheduled) is None
    world.later(days=3)  # however long it stays idle, a workflow without a schedule is skipped
    world.window_pass()
    assert open_alert(rule, unscheduled) is None
    world.run(hourly, "h2", "running")
    world.window_pass()
    alert.refresh_from_db()
    assert alert.resolved


def test_every_minutes_given_overrides_the_schedule(world):
    daily = scheduled(world, "daily", 24 * 60)
    unscheduled = world.workflow("adhoc")
    world.later(hours=1)
    rule = world.rule("no_executions", {"every_minutes": 30, "grace_minutes": 0})
    world.run(daily, "d1", "success")
    world.run(unscheduled, "a1", "success")
    world.later(minutes=31)
    world.window_pass()
    alert = open_alert(rule, daily)
    assert alert is not None and "at least every 30 min" in alert.description
    assert open_alert(rule, unscheduled) is not None  # given, every_minutes covers every workflow


def test_a_schedule_set_later_is_used_from_the_next_pass(world):
    workflow = world.workflow("report")
    world.later(hours=1)
    rule = world.rule("no_executions", {"grace_minutes": 0})
    world.later(hours=2)
    world.window_pass()
    assert alerts_of(rule) == []
    services.update_workflow(workflow, {"expected_interval_minutes": 60})
    world.window_pass()
    assert open_alert(rule, workflow) is not None


@pytest.mark.parametrize("params, field", [
    ({"grace_minutes": -1}, "grace_minutes"),
    ({"every_minutes": 0}, "every_minutes"),
    ({"every": 60}, "every"),
])
def test_params_are_still_validated(team, params, field):
    rule = AlertRule(team=team, name="dead man", kind="no_executions", params=params)
    with pytest.raises(ValidationError) as error:
        validate_rule(rule)
    assert field in str(error.value)


def test_an_empty_rule_takes_the_default_grace(team):
    rule = AlertRule(team=team, name="dead man", kind="no_executions", params={})
    validate_rule(rule)
    assert rule.params == {"grace_minutes": 5}


def test_the_rule_form_help_says_every_minutes_is_optional():
    assert "every_minutes is optional" in params_help() and "skipped" in params_help()
