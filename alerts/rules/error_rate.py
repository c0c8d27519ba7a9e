"""Error rate: more than threshold_percent % of the executions that started in the last
window_minutes and finished failed (error or crashed), once at least min_executions finished.
Canceled executions count neither way. A window rule: checked every pass."""

from collections import defaultdict
from datetime import timedelta

from monitoring.models import AlertType

from . import queries
from .base import Observation, RuleKind, workflow_label
from .params import ParamReader


class ErrorRate(RuleKind):
    kind = "error_rate"
    alert_type = AlertType.ERROR

    def validate(self, params):
        reader = ParamReader(params)
        reader.number("threshold_percent", minimum=0, below=100)
        reader.minutes("window_minutes", default=60)
        reader.number("min_executions", default=5, minimum=1, maximum=100_000, integer=True)
        return reader.cleaned()

    def is_window_rule(self, rule):
        return True

    def evaluate_window(self, rules, scope, now):
        by_window = defaultdict(list)
        for rule in rules:
            by_window[rule.params["window_minutes"]].append(rule)
        found = {}
        for window, group in by_window.items():
            counts = queries.outcome_counts(now - timedelta(minutes=window), {r.team_id for r in group})
            for rule in group:
                found[rule.pk] = self._holding(rule, scope, counts, now)
        return found

    def _holding(self, rule, scope, counts, now):
        holding = {}
        for workflow in scope.workflows(rule):
            failed, finished = counts.get(workflow.pk, (0, 0))
            if finished < rule.params["min_executions"]:
                continue
            percent = failed * 100 / finished
            if percent > rule.params["threshold_percent"]:
                holding[workflow.pk] = Observation(workflow.pk, True, now, value=round(percent, 2),
                                                   facts={"failed": failed, "finished": finished})
        return holding

    def describe(self, rule, workflow, observation):
        params = rule.params
        title = f"Error rate {observation.value:g}% on {workflow_label(workflow)}"
        facts = observation.facts
        counted = f"{facts['failed']} of {facts['finished']}" if facts else f"{observation.value:g}% of the"
        return title, (f"{counted} executions that started in the last {params['window_minutes']} min failed"
                       f" (threshold {params['threshold_percent']:g}%).")


KIND = ErrorRate()
