"""Event rules (execution failed, error severity, resource, one slow run, deactivated,
regression): they react to what monitoring commits, but never inside the request that wrote it.
The receiver picks the events some kind wants and hands their types and ids to ONE Celery task
per commit (alerts.tasks.evaluate_events), however many records the commit held; the task loads
the records fresh and evaluates every enabled event rule of their teams."""

import logging

from django.db import transaction
from django.utils import timezone

from monitoring import dispatch
from monitoring.models import Execution, PerformanceMetric, Workflow, WorkflowError

from . import evaluation_groups
from .evaluation import Evaluator
from .models import AlertRule
from .rules import registry
from .rules.base import Batch
from .rules.scope import in_scope

logger = logging.getLogger(__name__)


def on_events_committed(sender, events, **kwargs):
    """monitoring_events_committed receiver: at most one task for the whole commit."""
    kinds = registry.event_kinds()
    items, seen = [], set()
    for event in events:
        if any(kind.wants(event) for kind in kinds):
            item = _item(event)
            if item not in seen:
                seen.add(item)
                items.append(list(item))
    if items:
        from .tasks import evaluate_events  # tasks imports this module

        dispatch.enqueue(evaluate_events, (items,))


def _item(event):
    """(type, id, …) of what an event names."""
    if event.type == "workflow":
        return event.type, event.workflow_pk
    if event.type == "error_group":
        return evaluation_groups.item(event)
    return event.type, event.data["id"]


# Event type -> (Batch attribute, loader of the records by id). The records come back with what
# the rules and the alerts need already joined, so evaluating costs no query per record.
_LOADERS = {
    "execution": ("executions", lambda ids: Execution.objects.filter(pk__in=ids).select_related("workflow__team")),
    "error": ("errors",
              lambda ids: WorkflowError.objects.filter(pk__in=ids).select_related("workflow__team", "execution")),
    "performance": ("performance", lambda ids: PerformanceMetric.objects.filter(pk__in=ids)
                    .select_related("workflow__team", "execution")),
    "workflow": ("workflows", lambda ids: Workflow.objects.filter(pk__in=ids).select_related("team")),
    evaluation_groups.REGRESSED: ("regressions", evaluation_groups.load_regressions),
    evaluation_groups.SETTLED: ("settled_groups", evaluation_groups.load_settled),
}


def load_batch(items):
    """A Batch of the records named by [[type, id], …] (an item with more than an id hands its
    loader [id, …]); records deleted since are skipped."""
    ids = {}
    for kind, *key in items:
        if kind in _LOADERS:
            ids.setdefault(kind, []).append(key[0] if len(key) == 1 else key)
    batch = Batch()
    for kind, pks in ids.items():
        attribute, load = _LOADERS[kind]
        setattr(batch, attribute, list(load(pks)))
    return batch


def _workflows_of(batch):
    found = {w.pk: w for w in batch.workflows}
    for record in (*batch.executions, *batch.errors, *batch.performance, *batch.regressions,
                   *batch.settled_groups):
        found.setdefault(record.workflow_id, record.workflow)
    return found


def evaluate_events(items, now=None):
    """Evaluate the event rules over the records one commit wrote. Returns the summary counts."""
    now = now or timezone.now()
    batch = load_batch(items)
    evaluator = Evaluator(now)
    evaluator.workflows = _workflows_of(batch)
    team_ids = {w.team_id for w in evaluator.workflows.values()}
    kinds = {kind.kind: kind for kind in registry.event_kinds()}
    rules = []
    for rule in AlertRule.objects.filter(enabled=True, team_id__in=team_ids, kind__in=kinds).select_related("team"):
        rule.params = registry.usable_params(rule.kind, rule.params)
        if rule.params is None:
            logger.warning("alert rule %s has invalid params and is skipped", rule.pk)
        elif kinds[rule.kind].is_event_rule(rule):
            rules.append(rule)
    observed = []
    for rule in rules:
        kind = kinds[rule.kind]
        for observation in kind.observe(rule, batch):
            if in_scope(rule, evaluator.workflows[observation.workflow_id]):
                observed.append((rule, kind, observation))
    if not observed:
        return dict(evaluator.summary)
    # In time order: a failure then a later success in one batch raises and then clears.
    observed.sort(key=lambda item: item[2].at)
    firing = evaluator.load_states({rule for rule, _, _ in observed}, {o.workflow_id for _, _, o in observed})
    evaluator.load_open_executions(team_ids, firing)
    with transaction.atomic():
        # One transaction: the alerts raised here reach the notification pipeline as one commit.
        for rule, kind, observation in observed:
            evaluator.apply_event(rule, kind, observation)
        evaluator.flush()
    evaluator.summary["observations"] = len(observed)
    return dict(evaluator.summary)

