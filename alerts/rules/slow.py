"""Slow: mode "single", one execution took longer than duration_ms (an event rule, cleared by a
later execution within the limit); or mode "p95", the 95th percentile of the durations of the
executions that started in the last window_minutes and finished is above duration_ms, once at
least min_executions finished (a window rule)."""

from collections import defaultdict
from datetime import timedelta

from monitoring.models import AlertType

from . import queries
from .base import Observation, RuleKind, event_time, workflow_label
from .params import MAX_WINDOW_MINUTES, ParamReader

SINGLE, P95 = "single", "p95"


class Slow(RuleKind):
    kind = "slow"
    alert_type = AlertType.PERFORMANCE

    def validate(self, params):
        reader = ParamReader(params)
        reader.choice("mode", (SINGLE, P95), default=SINGLE)
        reader.number("duration_ms", minimum=1, maximum=MAX_WINDOW_MINUTES * 60_000, integer=True)
        if reader.out.get("mode") == P95:
            reader.minutes("window_minutes", default=60)
            reader.number("min_executions", default=5, minimum=1, maximum=100_000, integer=True)
        else:
            reader.refuse("window_minutes", 'Only for mode "p95".')
            reader.refuse("min_executions", 'Only for mode "p95".')
        return reader.cleaned()

    # --- one slow execution: an event --------------------------------------------------------
    def is_event_rule(self, rule):
        return rule.params.get("mode", SINGLE) == SINGLE

    def wants(self, event):
        return (event.type == "execution" and event.data.get("state") in queries.FINISHED_STATES
                and event.data.get("duration_ms") is not None)

    def observe(self, rule, batch):
        if not self.is_event_rule(rule):
            return
        for execution in batch.executions:
            if execution.state in queries.FINISHED_STATES and execution.duration_ms is not None:
                yield Observation(
                    workflow_id=execution.workflow_id,
                    holds=execution.duration_ms > rule.params["duration_ms"],
                    at=event_time(execution.stopped_at, execution.last_activity_at),
                    value=execution.duration_ms,
                    execution=execution,
                )

    # --- the p95 over a window ---------------------------------------------------------------
    def is_window_rule(self, rule):
        return rule.params.get("mode") == P95

    def evaluate_window(self, rules, scope, now):
        by_window = defaultdict(list)
        for rule in rules:
            if self.is_window_rule(rule):
                by_window[rule.params["window_minutes"]].append(rule)
        found = {}
        for window, group in by_window.items():
            p95s = queries.duration_p95(now - timedelta(minutes=window), {r.team_id for r in group})
            for rule in group:
                holding = found[rule.pk] = {}
                for workflow in scope.workflows(rule):
                    p95, runs = p95s.get(workflow.pk, (None, 0))
                    if runs >= rule.params["min_executions"] and p95 > rule.params["duration_ms"]:
                        holding[workflow.pk] = Observation(workflow.pk, True, now, value=round(p95),
                                                           facts={"runs": runs})
        return found

    def describe(self, rule, workflow, observation):
        limit = rule.params["duration_ms"]
        name = workflow_label(workflow)
        if self.is_window_rule(rule):
            runs = observation.facts.get("runs")
            over = f" over {runs} executions" if runs else ""
            return (f"Slow: p95 {observation.value:,.0f} ms on {name}",
                    f"The 95th percentile duration in the last {rule.params['window_minutes']} min{over}"
                    f" is {observation.value:,.0f} ms (limit {limit:,} ms).")
        execution = observation.execution
        which = f"Execution {execution.external_id}" if execution is not None else "An execution"
        return (f"Slow execution: {name} took {observation.value:,.0f} ms",
                f"{which} of {name} took {observation.value:,.0f} ms (limit {limit:,} ms).")


KIND = Slow()
