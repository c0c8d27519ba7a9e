"""How monitoring objects look to clients: the REST APIs, websocket messages and events all use
these, so every consumer sees the same shape. Querysets passed in must select_related
`workflow__team` and `execution` (alerts: `team`, `workflow` and `execution`; queries.py does)."""

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers
from rest_framework.fields import Field, SkipField
from rest_framework.relations import PKOnlyObject

from .models import (
    Alert,
    AlertStatus,
    ErrorGroup,
    Execution,
    ExecutionLog,
    PerformanceMetric,
    Workflow,
    WorkflowError,
)


class WorkflowOut(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    workflow_id = serializers.CharField(source="external_id", read_only=True)
    # A number (not Decimal): events and websocket messages carry this shape as JSON too.
    minutes_saved_per_run = serializers.FloatField(
        read_only=True, allow_null=True,
        help_text="Minutes one successful run saves people (time saved); null: not estimated")

    class Meta:
        model = Workflow
        fields = ["id", "workflow_id", "team", "source", "name", "active", "tags", "expected_interval_minutes",
                  "minutes_saved_per_run", "created_at", "updated_at"]


class _RecordOut(serializers.ModelSerializer):
    workflow_id = serializers.CharField(source="workflow.external_id", read_only=True)
    team = serializers.CharField(source="workflow.team.slug", read_only=True)
    execution_id = serializers.CharField(source="execution.external_id", read_only=True, allow_null=True)

    RECORD_FIELDS = ["id", "team", "workflow_id", "execution_id", "timestamp"]


class ExecutionOut(serializers.ModelSerializer):
    workflow_id = serializers.CharField(source="workflow.external_id", read_only=True)
    team = serializers.CharField(source="workflow.team.slug", read_only=True)
    execution_id = serializers.CharField(source="external_id", read_only=True)
    retry_of = serializers.CharField(source="retry_of.external_id", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Execution
        fields = [
            "id", "team", "workflow_id", "execution_id", "state", "mode", "started_at", "stopped_at",
            "duration_ms", "retry_of", "current_step", "step_number", "total_steps", "last_activity_at",
            "metadata",
        ]


class LogOut(_RecordOut):
    class Meta:
        model = ExecutionLog
        fields = _RecordOut.RECORD_FIELDS + [
            "log_level", "message", "node_id", "node_name", "step_number", "duration", "metadata",
        ]


class ErrorOut(_RecordOut):
    group_id = serializers.IntegerField(read_only=True, allow_null=True,
                                        help_text="The error group it was filed under (/api/v1/error-groups/)")

    class Meta:
        model = WorkflowError
        fields = _RecordOut.RECORD_FIELDS + [
            "error_type", "error_code", "error_message", "error_stack", "node_name", "severity", "metadata",
            "resolved", "resolution_notes", "resolved_at", "resolved_by", "group_id",
        ]


class PerformanceOut(_RecordOut):
    class Meta:
        model = PerformanceMetric
        fields = _RecordOut.RECORD_FIELDS + [
            "total_duration", "node_count", "successful_nodes", "failed_nodes", "memory_peak", "memory_average",
            "cpu_peak", "cpu_average", "network_requests", "network_data_transferred", "throughput",
            "bottleneck_nodes", "metadata",
        ]


class AlertOut(_RecordOut):
    # An alert has a team of its own and may name no workflow (an infrastructure alert): then
    # workflow_id is null.
    team = serializers.CharField(source="team.slug", read_only=True)
    workflow_id = serializers.CharField(source="workflow.external_id", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=AlertStatus.choices, read_only=True,
                                     help_text="firing while not resolved, then resolved")
    first_seen_at = serializers.DateTimeField(source="timestamp", read_only=True,
                                              help_text="When the alert was first seen (the same as timestamp)")

    class Meta:
        model = Alert
        fields = _RecordOut.RECORD_FIELDS + [
            "alert_type", "severity", "title", "description", "metadata",
            "acknowledged", "acknowledged_by", "acknowledged_at", "resolved", "resolved_at", "resolved_by",
            "resolution_notes",
            "status", "fingerprint", "source", "occurrences", "first_seen_at", "last_seen_at", "labels",
            "silenced", "inhibited",
        ]


class ErrorGroupOut(serializers.ModelSerializer):
    """An error group (docs/error-groups.md): one error of one workflow, however often it occurred."""

    workflow_id = serializers.CharField(source="workflow.external_id", read_only=True)
    team = serializers.CharField(source="workflow.team.slug", read_only=True)

    class Meta:
        model = ErrorGroup
        fields = [
            "id", "team", "workflow_id", "title", "fingerprint", "node_name", "error_type", "error_code", "status",
            "regressed", "regressed_at", "first_seen", "last_seen", "occurrences", "affected_executions",
            "resolved_at", "resolved_by", "resolution_notes",
        ]


OUTPUT = {
    "log": LogOut,
    "error": ErrorOut,
    "performance": PerformanceOut,
    "alert": AlertOut,
    "execution": ExecutionOut,
    "workflow": WorkflowOut,
    "error_group": ErrorGroupOut,
}


def serialize(kind, obj):
    return OUTPUT[kind](obj).data


def serialize_many(kind, objs):
    return OUTPUT[kind](objs, many=True).data


def representer(kind):
    """obj -> serialize(kind, obj), the same dict, for many objects one at a time (a batch's live
    events). DRF's to_representation spends most of its time per field in generic attribute
    lookup (mappings, callables, missing attributes); here a field that looks its value up the
    base way follows its source with getattr, and anything unusual on the way — a missing
    attribute, a callable, a related object that does not exist — is handed to the field's own
    get_attribute, so the answer is always DRF's. Conversion is each field's to_representation."""
    plan = []
    for field in OUTPUT[kind]()._readable_fields:
        plain = type(field).get_attribute is Field.get_attribute
        plan.append((field.field_name, tuple(field.source_attrs) if plain else None, field.get_attribute,
                     field.to_representation))

    def represent(instance):
        ret = {}
        for name, attrs, get_attribute, to_representation in plan:
            if attrs is None:
                try:
                    value = get_attribute(instance)
                except SkipField:
                    continue
                if isinstance(value, PKOnlyObject):
                    ret[name] = None if value.pk is None else to_representation(value)
                    continue
            else:
                value = instance
                try:
                    for attr in attrs:
                        value = getattr(value, attr)
                        if callable(value):
                            raise LookupError(attr)
                except (AttributeError, ObjectDoesNotExist, LookupError):
                    try:
                        value = get_attribute(instance)
                    except SkipField:
                        continue
            ret[name] = None if value is None else to_representation(value)
        return ret

    return represent
