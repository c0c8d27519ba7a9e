"""A rule is validated before it is saved (API, admin and web UI call validate_rule): every bad
threshold, window, choice or scope is refused with a message naming the field, and the params
come back cleaned, with their defaults."""

import pytest
from django.core.exceptions import ValidationError

from alerts.models import AlertRule, RuleKind
from alerts.rules.registry import KINDS, validate_params, validate_rule
from monitoring.models import Workflow


def errors_of(kind, params):
    with pytest.raises(ValidationError) as caught:
        validate_params(kind, params)
    return {name: messages[0] for name, messages in caught.value.message_dict.items()}


def test_every_rule_kind_has_a_module():
    assert set(KINDS) == set(RuleKind.values)


@pytest.mark.parametrize("kind, params, cleaned", [
    ("execution_failed", {}, {}),
    ("error_rate", {"threshold_percent": 25}, {"threshold_percent": 25, "window_minutes": 60, "min_executions": 5}),
    ("slow", {"duration_ms": "1500"}, {"mode": "single", "duration_ms": 1500}),
    ("slow", {"mode": "p95", "duration_ms": 800}, {"mode": "p95", "duration_ms": 800, "window_minutes": 60,
                                                   "min_executions": 5}),
    ("stuck", {"after_minutes": 30}, {"after_minutes": 30, "include_waiting": False}),
    ("no_executions", {"every_minutes": 60}, {"every_minutes": 60, "grace_minutes": 5}),
    ("error_severity", {"min_severity": "high"}, {"min_severity": "high"}),
    ("resource", {"field": "memory_peak", "threshold": 5e8}, {"field": "memory_peak", "threshold": 5e8}),
    ("deactivated", {}, {}),
])
def test_valid_params_come_back_with_defaults(kind, params, cleaned):
    assert validate_params(kind, params) == cleaned


@pytest.mark.parametrize("kind, params, field, message", [
    ("error_rate", {"threshold_percent": -1}, "threshold_percent", "Must be at least 0."),
    ("error_rate", {"threshold_percent": 150}, "threshold_percent", "Must be below 100."),
    ("error_rate", {"threshold_percent": "lots"}, "threshold_percent", "Must be a number."),
    ("error_rate", {"threshold_percent": 5, "window_minutes": 0}, "window_minutes", "Must be at least 1."),
    ("error_rate", {"threshold_percent": 5, "window_minutes": 10081}, "window_minutes", "Must be at most 10080."),
    ("error_rate", {"threshold_percent": 5, "min_executions": 2.5}, "min_executions", "Must be a whole number."),
    ("error_rate", {}, "threshold_percent", "This parameter is required."),
    ("error_rate", {"threshold": 5}, "threshold", "Unknown parameter for this kind of rule."),
    ("slow", {"duration_ms": 0}, "duration_ms", "Must be at least 1."),
    ("slow", {"duration_ms": 10, "mode": "p99"}, "mode", "Must be one of: single, p95."),
    ("slow", {"duration_ms": 10, "window_minutes": 5}, "window_minutes", 'Only for mode "p95".'),
    ("slow", {"mode": "p95", "duration_ms": 10, "window_minutes": -5}, "window_minutes", "Must be at least 1."),
    ("stuck", {"after_minutes": 30, "include_waiting": "yes"}, "include_waiting", "Must be true or false."),
    ("stuck", {"after_minutes": 99999}, "after_minutes", "Must be at most 10080."),
    ("no_executions", {"every_minutes": 0}, "every_minutes", "Must be at least 1."),
    ("no_executions", {"every_minutes": 5, "grace_minutes": -1}, "grace_minutes", "Must be at least 0."),
    ("error_severity", {"min_severity": "fatal"}, "min_severity", "Must be one of: low, medium, high, critical."),
    ("resource", {"field": "disk", "threshold": 1}, "field", "Must be one of: memory_peak, memory_average, "
     "cpu_peak, cpu_average, network_requests, network_data_transferred, failed_nodes."),
    ("resource", {"field": "cpu_peak", "threshold": 120}, "threshold", "Must be at most 100."),
    ("resource", {"field": "memory_peak", "threshold": -5}, "threshold", "Must be at least 0."),
    ("execution_failed", {"anything": 1}, "anything", "Unknown parameter for this kind of rule."),
    ("deactivated", [], "params", "Must be a JSON object."),
])
def test_bad_params_are_refused_naming_the_field(kind, params, field, message):
    assert errors_of(kind, params)[field] == message


def test_every_bad_param_is_named_at_once():
    assert set(errors_of("error_rate", {"threshold_percent": 101, "window_minutes": 0})) == {
        "threshold_percent", "window_minutes"}


def test_unknown_kind_is_refused():
    assert errors_of("sometimes", {}) == {"kind": "Unknown kind; one of: " + ", ".join(KINDS) + "."}


def rule_errors(rule):
    with pytest.raises(ValidationError) as caught:
        validate_rule(rule)
    return caught.value.message_dict


def test_validate_rule_names_the_rule_fields_and_the_param(team):
    rule = AlertRule(team=team, name="r", kind="error_rate", params={"threshold_percent": 100}, for_seconds=10**7,
                     severity="loud")
    assert rule_errors(rule) == {
        "params": ["threshold_percent: Must be below 100."],
        "for_seconds": ["Must be from 0 to 604800 (a week)."],
        "severity": ["Must be one of: info, warning, critical."],
    }


def test_scope_is_one_workflow_of_the_team_or_a_tag_not_both(team, other_team):
    mine = Workflow.objects.create(team=team, external_id="mine")
    theirs = Workflow.objects.create(team=other_team, external_id="theirs")
    both = AlertRule(team=team, name="r", kind="deactivated", workflow=mine, tag="nightly")
    assert rule_errors(both) == {"tag": ["Give a workflow or a tag, not both."]}
    foreign = AlertRule(team=team, name="r", kind="deactivated", workflow=theirs)
    assert rule_errors(foreign) == {"workflow": ["Must be a workflow of the rule's team."]}


def test_validate_rule_stores_the_cleaned_params(team):
    rule = AlertRule(team=team, name="r", kind="stuck", params={"after_minutes": "45"})
    assert validate_rule(rule) == {"after_minutes": 45, "include_waiting": False}
    assert rule.params == {"after_minutes": 45, "include_waiting": False}
