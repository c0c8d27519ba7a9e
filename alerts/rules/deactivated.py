"""Deactivated: a workflow that was active is no longer (n8n deactivates workflows by itself
after repeated trigger errors). Hears the "workflow" event monitoring publishes when a workflow
changes, when its `changes` include `active`: so it fires on the change from active to inactive,
not for a workflow that was never active. Clears when the workflow is active again."""

from monitoring.models import AlertType

from .base import Observation, RuleKind, event_time, workflow_label
from .params import ParamReader


class Deactivated(RuleKind):
    kind = "deactivated"
    alert_type = AlertType.DEPENDENCY

    def validate(self, params):
        return ParamReader(params).cleaned()

    def is_event_rule(self, rule):
        return True

    def wants(self, event):
        return event.type == "workflow" and event.action == "updated" and "active" in (event.changes or {})

    def observe(self, rule, batch):
        for workflow in batch.workflows:
            yield Observation(workflow.pk, not workflow.active, event_time(workflow.updated_at))

    def describe(self, rule, workflow, observation):
        return (f"Workflow deactivated: {workflow_label(workflow)}",
                f"{workflow_label(workflow)} is no longer active: its triggers will not start executions.")


KIND = Deactivated()
