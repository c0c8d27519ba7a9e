"""Window rules (error rate, p95 duration, stuck, no executions): one pass evaluates every enabled
window rule of every team at time `now` — on the Celery beat task every minute, and by hand with
`manage.py evaluate_alerts`. The pass also fires event rules whose "for" duration has passed
with no sign of recovery.

Cost: each kind runs one aggregated query per distinct window over the executions of that
window (grouped by workflow; see alerts/rules/queries.py), one query loads the teams' workflows
as light rows, one loads the rules' states; nothing reads logs, so a pass costs the same however
many logs are stored. Alerts are written only for the conditions that hold or clear."""

import logging
import time
from contextlib import contextmanager
import json
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring.models import Team

from .evaluation import Evaluator
from .models import AlertRule, RuleState
from .rules import registry
from .rules.base import Observation
from .rules.scope import Scope

logger = logging.getLogger(__name__)

_LOCK_KEY = "alerts:window-pass"
_LOCK_SECONDS = 300


@contextmanager
def _one_pass_at_a_time():
    """A pass that overruns the minute (or the command run by hand meanwhile) must not evaluate
    the same rules twice at once: the second one skips. The lock expires by itself should the
    process die mid-pass."""
    acquired = cache.add(_LOCK_KEY, "1", _LOCK_SECONDS)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(_LOCK_KEY)


@dataclass(slots=True)
class RuleRow:
    """What a pass needs of a rule. Building 30,000 AlertRule instances (dates and JSON through
    Django's converters) takes longer than the whole pass may, so rules are read as these rows,
    and the fields only raising or clearing an alert needs (name, severity, auto_resolve, the team
    object) are filled in afterwards for the few rules that do."""

    pk: int
    team_id: int
    kind: str
    workflow_id: int | None
    tag: str
    params: dict
    for_seconds: int
    name: str = ""
    severity: str = ""
    auto_resolve: bool = True
    team: Team = None


def _window_rules():
    """The enabled window rules by kind, as RuleRows."""
    kinds = {kind.kind: kind for kind in registry.window_kinds()}
    rows = (AlertRule.objects.filter(enabled=True, kind__in=kinds)
            .values_list("pk", "team_id", "kind", "workflow_id", "tag", Cast("params", TextField()), "for_seconds"))
    by_kind = {name: [] for name in kinds}
    cleaned = {}  # (kind, params text) -> cleaned params or None: rules share few distinct params
    for pk, team_id, kind, workflow_id, tag, params, for_seconds in rows.iterator(chunk_size=5000):
        if (kind, params) not in cleaned:
            cleaned[(kind, params)] = registry.usable_params(kind, json.loads(params))
        if cleaned[(kind, params)] is None:
            logger.warning("alert rule %s has invalid params and is skipped", pk)
            continue
        rule = RuleRow(pk, team_id, kind, workflow_id, tag, cleaned[(kind, params)], for_seconds)
        if kinds[kind].is_window_rule(rule):
            by_kind[kind].append(rule)
    return kinds, by_kind


def _fill_details(rules):
    """Name, severity, auto_resolve and team of the rules that may raise or clear an alert."""
    if not rules:
        return
    details = AlertRule.objects.filter(pk__in=[rule.pk for rule in rules]).values_list(
        "pk", "name", "severity", "auto_resolve")
    details = {pk: rest for pk, *rest in details}
    teams = Team.objects.in_bulk({rule.team_id for rule in rules})
    for rule in rules:
        rule.name, rule.severity, rule.auto_resolve = details[rule.pk]
        rule.team = teams[rule.team_id]


def _holding_by_rule(kinds, by_kind, now):
    """{rule pk: {workflow pk: Observation}} for the rules whose kind evaluated; a kind whose
    queries failed is left out, so its rules keep their states (and alerts) until a pass works."""
    scope = Scope({rule.team_id for rules in by_kind.values() for rule in rules})
    holding, evaluated = {}, []
    for name, rules in by_kind.items():
        if not rules:
            continue
        try:
            found = kinds[name].evaluate_window(rules, scope, now)
        except Exception:
            logger.exception("window evaluation of %s rules failed", name)
            continue
        evaluated.extend(rules)
        for rule in rules:
            holding[rule.pk] = found.get(rule.pk, {})
    return holding, evaluated


def _promote_pending_event_states(evaluator):
    """Event rules with a "for" duration: the condition became pending at an event and fires
    once it has held for for_seconds with no recovery event since (the state still exists)."""
    kinds = {kind.kind: kind for kind in registry.event_kinds()}
    pending = (RuleState.objects.filter(firing=False, rule__enabled=True, rule__kind__in=kinds)
               .select_related("rule__team", "workflow__team"))
    for state in pending:
        rule, kind = state.rule, kinds[state.rule.kind]
        rule.params = registry.usable_params(rule.kind, rule.params)
        if rule.params is not None and kind.is_event_rule(rule):
            evaluator.workflows.setdefault(state.workflow_id, state.workflow)
            evaluator.states[rule.pk][state.workflow_id] = state
            evaluator.promote(rule, kind, state, Observation(state.workflow_id, True, evaluator.now,
                                                             value=state.last_value))
            evaluator.summary["promoted"] += state.firing


def evaluate_window_rules(now=None):
    """One pass. Returns a summary: rules evaluated, conditions pending, alerts raised (new),
    repeated (still firing), resolved, event conditions promoted, and the seconds it took."""
    started = time.perf_counter()
    now = now or timezone.now()
    with _one_pass_at_a_time() as acquired:
        if not acquired:
            return {"skipped": "another pass is running"}
        kinds, by_kind = _window_rules()
        holding, evaluated = _holding_by_rule(kinds, by_kind, now)
        evaluator = Evaluator(now)
        evaluator.load_states(evaluated, states=RuleState.objects.filter(rule__enabled=True, rule__kind__in=kinds))
        _fill_details([rule for rule in evaluated if holding[rule.pk] or evaluator.states.get(rule.pk)])
        # Workflow objects only for the conditions that may fire now (not those firing already).
        evaluator.load_workflows({pk for rule_pk, found in holding.items() for pk in found
                                  if not getattr(evaluator.states[rule_pk].get(pk), "firing", False)})
        with transaction.atomic():
            # One transaction: the pass's alerts reach the notification pipeline as one commit.
            for rule in evaluated:
                evaluator.reconcile(rule, kinds[rule.kind], holding[rule.pk])
            _promote_pending_event_states(evaluator)
            evaluator.flush()
    summary = {"rules": len(evaluated), "holding": sum(len(found) for found in holding.values()),
               "pending": 0, "raised": 0, "repeated": 0, "resolved": 0, "promoted": 0, "errors": 0}
    summary.update(evaluator.summary)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
