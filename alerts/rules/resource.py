"""Resource: a performance record's field (memory, cpu, network, failed nodes) above threshold.
Clears when a later performance record of the workflow is back at or below it."""

from monitoring.models import AlertType

from .base import Observation, RuleKind, event_time, workflow_label
from .params import ParamReader

# Field -> (unit shown in alerts, largest meaningful threshold or None).
FIELDS = {
    "memory_peak": ("bytes", None),
    "memory_average": ("bytes", None),
    "cpu_peak": ("%", 100),
    "cpu_average": ("%", 100),
    "network_requests": ("requests", None),
    "network_data_transferred": ("bytes", None),
    "failed_nodes": ("nodes", None),
}


class Resource(RuleKind):
    kind = "resource"
    alert_type = AlertType.RESOURCE

    def validate(self, params):
        reader = ParamReader(params)
        reader.choice("field", tuple(FIELDS))
        _, maximum = FIELDS.get(reader.out.get("field"), (None, None))
        reader.number("threshold", minimum=0, maximum=maximum)
        return reader.cleaned()

    def is_event_rule(self, rule):
        return True

    def wants(self, event):
        return event.type == "performance"

    def observe(self, rule, batch):
        name = rule.params["field"]
        for metric in batch.performance:
            value = getattr(metric, name)
            if value is not None:
                yield Observation(metric.workflow_id, float(value) > rule.params["threshold"],
                                  event_time(metric.timestamp), value=float(value), execution=metric.execution)

    def describe(self, rule, workflow, observation):
        name, threshold = rule.params["field"], rule.params["threshold"]
        unit = FIELDS[name][0]
        execution = observation.execution
        which = f" in execution {execution.external_id}" if execution is not None else ""
        return (f"{name} {observation.value:,g} {unit} on {workflow_label(workflow)}",
                f"{name} was {observation.value:,g} {unit}{which}, above the threshold of {threshold:,g} {unit}.")


KIND = Resource()
