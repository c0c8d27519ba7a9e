"""Execution failed: an execution ends in error or crashed (crashed too: n8n's own error workflow
misses those). Clears when a later execution of the same workflow ends in success."""

from monitoring.models import FAILED_STATES, AlertType, ExecutionState

from .base import Observation, RuleKind, event_time, workflow_label
from .params import ParamReader

_SEEN_STATES = {*FAILED_STATES, ExecutionState.SUCCESS}


class ExecutionFailed(RuleKind):
    kind = "execution_failed"
    alert_type = AlertType.ERROR

    def validate(self, params):
        return ParamReader(params).cleaned()

    def is_event_rule(self, rule):
        return True

    def wants(self, event):
        return event.type == "execution" and event.data.get("state") in _SEEN_STATES

    def observe(self, rule, batch):
        for execution in batch.executions:
            if execution.state in _SEEN_STATES:
                yield Observation(
                    workflow_id=execution.workflow_id,
                    holds=execution.state in FAILED_STATES,
                    at=event_time(execution.stopped_at, execution.last_activity_at),
                    execution=execution,
                )

    def describe(self, rule, workflow, observation):
        execution = observation.execution
        if execution is None:
            return (f"Executions of {workflow_label(workflow)} are failing",
                    "No execution has succeeded since the failure that started this alert.")
        return (f"Execution {execution.state}: {workflow_label(workflow)}",
                f"Execution {execution.external_id} of {workflow_label(workflow)} ended {execution.state}"
                f" at {observation.at:%Y-%m-%d %H:%M:%S %Z}.")


KIND = ExecutionFailed()
