"""Every rule kind, by name, and the validation the API, admin and web UI call before saving a
rule. Adding a kind is one module in this package and one line in `_MODULES`; nothing else
branches on kinds."""

from django.core.exceptions import ValidationError

from monitoring.models import AlertSeverity

from . import (
    anomaly,
    deactivated,
    error_rate,
    error_severity,
    execution_failed,
    no_executions,
    regression,
    resource,
    slow,
    stuck,
)
from .base import RuleKind
from .params import MAX_WINDOW_MINUTES

_MODULES = (execution_failed, error_rate, slow, stuck, no_executions, error_severity, resource, deactivated)
_MODULES += (regression,)
_MODULES += (anomaly,)
KINDS = {module.KIND.kind: module.KIND for module in _MODULES}


def get_kind(name):
    """The kind object for a rule's `kind`; KeyError for one nobody registered."""
    return KINDS[name]


def validate_params(kind, params):
    """Cleaned params for a kind (defaults filled in), or ValidationError({param name: message})."""
    if kind not in KINDS:
        raise ValidationError({"kind": f"Unknown kind; one of: {', '.join(KINDS)}."})
    return KINDS[kind].validate(params)


def usable_params(kind, params):
    """Cleaned params, or None when they are invalid: a rule stored without validation (a shell,
    a data migration, a kind whose params changed) is skipped by evaluation instead of stopping
    every other rule of its kind."""
    try:
        return validate_params(kind, params)
    except ValidationError:
        return None


def validate_rule(rule):
    """Check a rule before it is saved, and normalise its params (defaults filled in). Raises
    ValidationError keyed by the rule's field names (kind, params, workflow, tag, severity,
    for_seconds), so a ModelForm shows each message at its field; a params message starts with
    the parameter's name ("threshold_percent: Must be below 100."). Returns the cleaned params."""
    errors = {}
    cleaned = None
    try:
        cleaned = validate_params(rule.kind, rule.params)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            if name == "kind":
                errors["kind"] = messages
            else:
                errors.setdefault("params", []).extend(f"{name}: {message}" for message in messages)
    _check_scope(rule, errors)
    if rule.severity not in AlertSeverity.values:
        errors["severity"] = [f"Must be one of: {', '.join(AlertSeverity.values)}."]
    if rule.for_seconds is None or not 0 <= rule.for_seconds <= MAX_WINDOW_MINUTES * 60:
        errors["for_seconds"] = [f"Must be from 0 to {MAX_WINDOW_MINUTES * 60} (a week)."]
    if errors:
        raise ValidationError(errors)
    rule.params = cleaned
    return cleaned


def _check_scope(rule, errors):
    # A rule covers all the team's workflows, one of them, or those with a tag; never another
    # team's workflow (its alerts would land in the wrong team).
    if rule.workflow_id and rule.tag:
        errors["tag"] = ["Give a workflow or a tag, not both."]
    if rule.workflow_id and rule.workflow.team_id != rule.team_id:
        errors["workflow"] = ["Must be a workflow of the rule's team."]


def event_kinds():
    """Kinds that react to monitoring events (they override RuleKind.wants)."""
    return [kind for kind in KINDS.values() if type(kind).wants is not RuleKind.wants]


def window_kinds():
    """Kinds evaluated by the window pass (they override RuleKind.evaluate_window)."""
    return [kind for kind in KINDS.values() if type(kind).evaluate_window is not RuleKind.evaluate_window]
