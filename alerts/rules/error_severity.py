"""Error severity: an error at or above min_severity (low < medium < high < critical) is
recorded. Clears, like "execution failed", when a later execution of the workflow succeeds."""

from monitoring.models import AlertType, ErrorSeverity, ExecutionState

from .base import Observation, RuleKind, event_time, workflow_label
from .params import ParamReader

RANK = {severity: rank for rank, severity in enumerate(ErrorSeverity.values)}


class ErrorSeverityKind(RuleKind):
    kind = "error_severity"
    alert_type = AlertType.ERROR

    def validate(self, params):
        reader = ParamReader(params)
        reader.choice("min_severity", tuple(ErrorSeverity.values))
        return reader.cleaned()

    def is_event_rule(self, rule):
        return True

    def wants(self, event):
        if event.type == "error":
            return event.action == "created"
        return event.type == "execution" and event.data.get("state") == ExecutionState.SUCCESS

    def observe(self, rule, batch):
        floor = RANK[rule.params["min_severity"]]
        for error in batch.errors:
            if RANK.get(error.severity, -1) >= floor:
                yield Observation(error.workflow_id, True, event_time(error.timestamp), value=RANK[error.severity],
                                  execution=error.execution,
                                  facts={"severity": error.severity, "message": error.error_message[:300],
                                         "node": error.node_name})
        for execution in batch.executions:
            if execution.state == ExecutionState.SUCCESS:
                yield Observation(execution.workflow_id, False, event_time(execution.stopped_at), execution=execution)

    def describe(self, rule, workflow, observation):
        facts = observation.facts
        if not facts:
            return (f"Errors at or above {rule.params['min_severity']}: {workflow_label(workflow)}",
                    f"An error at or above {rule.params['min_severity']} was recorded and no execution has"
                    " succeeded since.")
        node = f" in {facts['node']}" if facts["node"] else ""
        return (f"{facts['severity'].capitalize()} error: {workflow_label(workflow)}",
                f"A {facts['severity']} error was recorded{node}: {facts['message']}")


KIND = ErrorSeverityKind()
