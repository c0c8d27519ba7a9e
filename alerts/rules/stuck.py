"""Stuck: an execution still running (or waiting, with include_waiting) after_minutes after it
started, with no activity (log, step) in those minutes either: n8n leaves executions "running"
for ever when a worker dies. A window rule: checked every pass; clears when none is stuck."""

from collections import defaultdict
from datetime import timedelta

from monitoring.models import AlertType, ExecutionState

from . import queries
from .base import Observation, RuleKind, workflow_label
from .params import ParamReader


class Stuck(RuleKind):
    kind = "stuck"
    alert_type = AlertType.TIMEOUT

    def validate(self, params):
        reader = ParamReader(params)
        reader.minutes("after_minutes")
        reader.boolean("include_waiting", default=False)
        return reader.cleaned()

    def is_window_rule(self, rule):
        return True

    def _states(self, rule):
        if rule.params["include_waiting"]:
            return (ExecutionState.RUNNING, ExecutionState.WAITING)
        return (ExecutionState.RUNNING,)

    def evaluate_window(self, rules, scope, now):
        by_after = defaultdict(list)
        for rule in rules:
            by_after[rule.params["after_minutes"]].append(rule)
        found = {}
        for after, group in by_after.items():
            before = now - timedelta(minutes=after)
            stuck = queries.stuck_counts(before, {r.team_id for r in group},
                                         {s for r in group for s in self._states(r)})
            for rule in group:
                holding = found[rule.pk] = {}
                states = self._states(rule)
                for workflow in scope.workflows(rule):
                    per_state = [stuck[workflow.pk][s] for s in states if s in stuck.get(workflow.pk, {})]
                    if per_state:
                        holding[workflow.pk] = Observation(
                            workflow.pk, True, now, value=sum(count for count, _ in per_state),
                            facts={"oldest": min(oldest for _, oldest in per_state), "states": states,
                                   "before": before},
                        )
        return found

    def execution_for(self, rule, observation):
        facts = observation.facts
        return queries.oldest_stuck_execution(observation.workflow_id, facts["states"], facts["before"])

    def describe(self, rule, workflow, observation):
        count = int(observation.value or 0)
        what = "running or waiting" if rule.params["include_waiting"] else "running"
        runs = "1 execution" if count == 1 else f"{count} executions"
        oldest = observation.facts.get("oldest")
        since = f"; the oldest started {oldest:%Y-%m-%d %H:%M %Z}" if oldest else ""
        return (f"Stuck: {runs} of {workflow_label(workflow)} {what}",
                f"{runs} still {what} more than {rule.params['after_minutes']} min after starting,"
                f" with no activity since{since}.")


KIND = Stuck()
