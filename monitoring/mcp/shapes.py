"""The typed shapes of the MCP tools' results. Records are described from the serializers the REST
API answers with (monitoring.serializers), field by field, so a record has the same fields and
types here as there and cannot drift; the summaries of monitoring.queries get a model each.

Pydantic models are what the MCP SDK publishes as a tool's outputSchema and checks every result
against: an agent reads typed fields, not prose."""

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, create_model
from rest_framework import serializers

from ..serializers import OUTPUT

# DRF field class -> the Python type of its value in an answer, most specific class first.
# Decimals (throughput, CPU share) are numbers here, where the REST API writes them as strings.
FIELD_TYPES = [
    (serializers.BooleanField, bool),
    (serializers.IntegerField, int),
    (serializers.DecimalField, float),
    (serializers.FloatField, float),
    (serializers.DateTimeField, datetime),
    (serializers.UUIDField, str),
    (serializers.JSONField, Any),
    (serializers.ListField, list),
    (serializers.DictField, dict),
    (serializers.CharField, str),
    (serializers.RelatedField, str),
]


def _value_type(field):
    """The type of one serializer field: its choices as a Literal, else by its class; null if it
    may be null."""
    if isinstance(field, serializers.ChoiceField):
        kind = Literal[tuple(field.choices)]
    else:
        kind = next((python for drf, python in FIELD_TYPES if isinstance(field, drf)), Any)
    return Optional[kind] if field.allow_null and kind is not Any else kind


def model_of(kind: str, name: str) -> type[BaseModel]:
    """A pydantic model with the fields, in order, of monitoring.serializers' output for `kind`."""
    fields = OUTPUT[kind]().fields
    return create_model(name, **{field_name: (_value_type(f), ...) for field_name, f in fields.items()})


Execution = model_of("execution", "Execution")
Log = model_of("log", "ExecutionLog")
Error = model_of("error", "WorkflowError")
Performance = model_of("performance", "PerformanceMetric")
Alert = model_of("alert", "Alert")
ErrorGroup = model_of("error_group", "ErrorGroup")


class Executions(BaseModel):
    count: int
    executions: list[Execution]


class Errors(BaseModel):
    count: int
    errors: list[Error]


class Alerts(BaseModel):
    count: int
    alerts: list[Alert]


class ErrorGroups(BaseModel):
    count: int
    error_groups: list[ErrorGroup]


class ExecutionDetail(BaseModel):
    """One execution with its per-node logs in the order they ran, its errors and its performance
    record (null when none was posted)."""

    execution: Execution
    logs: list[Log]
    logs_total: int
    logs_truncated: bool
    errors: list[Error]
    performance: Optional[Performance]


class LiveStatus(BaseModel):
    """monitoring.queries.live_status."""

    workflow_id: str
    team: str
    execution_id: str
    current_state: str
    progress_percentage: Optional[int]
    current_step: Optional[str]
    step_number: Optional[int]
    total_steps: Optional[int]
    started_at: datetime
    elapsed_time: int
    estimated_remaining_time: Optional[int]
    error_count: int
    warning_count: int
    recent_logs: list[Log]


class LiveStatusResult(BaseModel):
    workflow_id: str
    ever_ran: bool
    live_status: Optional[LiveStatus]


class Period(BaseModel):
    start: datetime
    end: datetime


class RecentActivity(BaseModel):
    logs: list[Log]
    errors: list[Error]
    alerts: list[Alert]


class TimeSavedWorkflow(BaseModel):
    workflow_id: str
    team: str
    name: str
    minutes_saved_per_run: float
    successful_runs: int
    minutes: float


class TimeSaved(BaseModel):
    """monitoring.time_saved: successful runs times each workflow's minutes saved per run."""

    minutes: float
    hours: float
    workflows: int
    estimated_workflows: int
    not_estimated_workflows: int
    top_workflows: list[TimeSavedWorkflow]


class Dashboard(BaseModel):
    """monitoring.queries.dashboard."""

    period: Period
    total_executions: int
    successful_executions: int
    failed_executions: int
    success_rate: Optional[float]
    total_errors: int
    critical_errors: int
    total_alerts: int
    unresolved_alerts: int
    average_execution_time: Optional[int]
    system_health: Literal["healthy", "degraded", "critical"]
    recent_activity: RecentActivity
    time_saved: TimeSaved


class DashboardResult(BaseModel):
    team: str
    workflow_id: Optional[str]
    dashboard: Dashboard


class NodeWindowBefore(BaseModel):
    runs: int
    p95_ms: Optional[int]
    failure_share: float


class NodeChange(BaseModel):
    runs: int
    p95_ms: Optional[int]
    failure_share: float


class NodeStat(BaseModel):
    node_name: str
    runs: int
    p50_ms: Optional[int]
    p95_ms: Optional[int]
    failure_share: float
    previous: Optional[NodeWindowBefore]
    change: Optional[NodeChange]


class NodeStats(BaseModel):
    """monitoring.node_stats.node_stats: the most failing nodes first, then the slowest."""

    workflow_id: str
    days: int
    nodes: list[NodeStat]
