"""No executions (dead-man switch, as healthchecks does): a workflow expected to start an
execution at least every every_minutes has started none for every_minutes + grace_minutes.
The clock starts at the latest of: the workflow's last execution start, the rule's creation and
the workflow's creation, so a new rule gives an idle workflow a full period before it fires.
Inactive workflows are not expected to run and never fire (the "deactivated" kind covers them)."""

from datetime import timedelta

from alerts.models import AlertRule
from monitoring.models import AlertType, Workflow

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
        latest = queries.latest_starts({rule.team_id for rule in rules})
        candidates = {}
        for rule in rules:
            since = now - timedelta(minutes=rule.params["every_minutes"] + rule.params["grace_minutes"])
            idle = [workflow for workflow in scope.workflows(rule)
                    if workflow.active and (latest.get(workflow.pk) or since) <= since]
            if idle:
                candidates[rule.pk] = (rule, since, idle)
        # The rule's and the workflow's creation count too (the clock starts no earlier); read
        # only for the few rules with idle workflows.
        rule_created = queries.creation_times(AlertRule, list(candidates))
        workflow_created = queries.creation_times(Workflow, {w.pk for _, _, idle in candidates.values() for w in idle})
        found = {}
        for rule, since, idle in candidates.values():
            if rule_created[rule.pk] > since:
                continue
            span = rule.params["every_minutes"] + rule.params["grace_minutes"]
            holding = {workflow.pk: Observation(workflow.pk, True, now, value=span,
                                                facts={"last_started": latest.get(workflow.pk)})
                       for workflow in idle if workflow_created[workflow.pk] <= since}
            if holding:
                found[rule.pk] = holding
        return found

    def describe(self, rule, workflow, observation):
        every, grace = rule.params["every_minutes"], rule.params["grace_minutes"]
        last = observation.facts.get("last_started")
        last_run = f" Its last execution started {last:%Y-%m-%d %H:%M %Z}." if last else ""
        return (f"No executions: {workflow_label(workflow)}",
                f"{workflow_label(workflow)} started no execution in the last {every + grace} min"
                f" (expected at least every {every} min, grace {grace} min).{last_run}")


KIND = NoExecutions()
