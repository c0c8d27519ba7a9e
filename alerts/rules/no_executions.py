"""No executions (dead-man switch, as healthchecks does): a workflow expected to start an
execution at least every every_minutes has started none for every_minutes + grace_minutes.
The clock starts at the latest of: the workflow's last execution start, the rule's creation and
the workflow's creation, so a new rule gives an idle workflow a full period before it fires.
Inactive workflows are not expected to run and never fire (the "deactivated" kind covers them)."""

from collections import defaultdict
from datetime import timedelta

from monitoring.models import AlertType

from . import queries
from .base import Observation, RuleKind, workflow_label
from .params import ParamReader


class NoExecutions(RuleKind):
    kind = "no_executions"
    alert_type = AlertType.TIMEOUT

    def validate(self, params):
        reader = ParamReader(params)
        reader.minutes("every_minutes")
        reader.minutes("grace_minutes", default=5, minimum=0)
        return reader.cleaned()

    def is_window_rule(self, rule):
        return True

    def evaluate_window(self, rules, scope, now):
        by_span = defaultdict(list)
        for rule in rules:
            by_span[rule.params["every_minutes"] + rule.params["grace_minutes"]].append(rule)
        found = {}
        for span, group in by_span.items():
            since = now - timedelta(minutes=span)
            idle = queries.idle_workflows(since, {r.team_id for r in group})
            for rule in group:
                holding = found[rule.pk] = {}
                for workflow in scope.workflows(rule):
                    if workflow.pk in idle and workflow.active and max(rule.created_at, workflow.created_at) <= since:
                        holding[workflow.pk] = Observation(workflow.pk, True, now, value=span)
        return found

    def describe(self, rule, workflow, observation):
        every, grace = rule.params["every_minutes"], rule.params["grace_minutes"]
        return (f"No executions: {workflow_label(workflow)}",
                f"{workflow_label(workflow)} started no execution in the last {every + grace} min"
                f" (expected at least every {every} min, grace {grace} min).")


KIND = NoExecutions()
