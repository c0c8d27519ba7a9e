"""No executions (dead-man switch, as healthchecks does): a workflow expected to start an
execution at least every every_minutes has started none for every_minutes + grace_minutes.
every_minutes is optional: without it each workflow's own schedule (its expected interval, set
by the n8n mirror from a Schedule Trigger or Cron node, or through the REST API) is used, and
workflows without a schedule are skipped; given, it overrides every workflow's schedule.
The clock starts at the latest of: the workflow's last execution start, the rule's creation and
the workflow's creation, so a new rule gives an idle workflow a full period before it fires.
Inactive workflows are not expected to run and never fire (the "deactivated" kind covers them)."""

from datetime import timedelta

from alerts.models import AlertRule
from monitoring.models import AlertType, Workflow

from . import queries
from .base import Observation, RuleKind, workflow_label
from .params import ParamReader


def expected_every(rule, workflow):
    """The period the workflow is held to: the rule's every_minutes, else the workflow's own
    schedule, else None (not watched by this rule)."""
    return rule.params.get("every_minutes") or workflow.expected_interval_minutes


class NoExecutions(RuleKind):
    kind = "no_executions"
    alert_type = AlertType.TIMEOUT

    def validate(self, params):
        reader = ParamReader(params)
        reader.minutes("every_minutes", default=None)
        reader.minutes("grace_minutes", default=5, minimum=0)
        cleaned = reader.cleaned()
        if cleaned.get("every_minutes") is None:
            cleaned.pop("every_minutes", None)  # absent: each workflow's schedule is used
        return cleaned

    def is_window_rule(self, rule):
        return True

    def evaluate_window(self, rules, scope, now):
        latest = queries.latest_starts({rule.team_id for rule in rules})
        candidates = {}
        for rule in rules:
            idle = []
            for workflow in scope.workflows(rule):
                every = expected_every(rule, workflow)
                if not workflow.active or not every:
                    continue
                since = now - timedelta(minutes=every + rule.params["grace_minutes"])
                if (latest.get(workflow.pk) or since) <= since:
                    idle.append((workflow, since, every))
            if idle:
                candidates[rule.pk] = (rule, idle)
        # The rule's and the workflow's creation count too (the clock starts no earlier); read
        # only for the few rules with idle workflows.
        rule_created = queries.creation_times(AlertRule, list(candidates))
        workflow_created = queries.creation_times(Workflow, {w.pk for _, idle in candidates.values() for w, _, _ in idle})
        found = {}
        for rule, idle in candidates.values():
            holding = {workflow.pk: Observation(workflow.pk, True, now, value=every + rule.params["grace_minutes"],
                                                facts={"last_started": latest.get(workflow.pk)})
                       for workflow, since, every in idle
                       if rule_created[rule.pk] <= since and workflow_created[workflow.pk] <= since}
            if holding:
                found[rule.pk] = holding
        return found

    def describe(self, rule, workflow, observation):
        every, grace = expected_every(rule, workflow), rule.params["grace_minutes"]
        last = observation.facts.get("last_started")
        last_run = f" Its last execution started {last:%Y-%m-%d %H:%M %Z}." if last else ""
        if not every:  # the schedule was removed after the condition began: say what was measured
            return (f"No executions: {workflow_label(workflow)}",
                    f"{workflow_label(workflow)} started no execution in the last {observation.value} min.{last_run}")
        expected = "expected at least every" if "every_minutes" in rule.params else "on its schedule, every"
        return (f"No executions: {workflow_label(workflow)}",
                f"{workflow_label(workflow)} started no execution in the last {every + grace} min"
                f" ({expected} {every} min, grace {grace} min).{last_run}")


KIND = NoExecutions()
