"""/api/v1/ — the resource API: workflows, executions, logs, errors, performance, alerts, with
django-filter filters, cursor pagination for logs and an OpenAPI 3 schema. Thin adapters over
monitoring.ingest / queries / services, scoped by monitoring.access."""

from datetime import timezone as dt_timezone

import django_filters as filters
from django import forms
from django.db.models import ProtectedError
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from .. import log_context, node_stats, queries, services, time_saved
from ..access import INGEST, MANAGE, RESPOND, team_id_of
from ..ingest import ingest
from ..models import (
    Alert,
    AlertSeverity,
    AlertSource,
    AlertStatus,
    AlertType,
    ErrorSeverity,
    ErrorType,
    Execution,
    ExecutionLog,
    ExecutionState,
    LogLevel,
    PerformanceMetric,
    Workflow,
    WorkflowError,
)
from ..schemas import INT_MAX, KINDS, AlertUpdateIn, ErrorUpdateIn, StrictSerializer, TimestampField, validate_records
from ..serializers import AlertOut, ErrorOut, ExecutionOut, LogOut, PerformanceOut, WorkflowOut, serialize
from .audit import AuditedAPIMixin
from .idempotency import idempotent
from .openapi import FlowtowerAutoSchema, NodeStatsOut
from .pagination import LogCursor
from .params import MAX_UTC_OFFSET
from .monitoring_endpoint import ingest_team

UUID_RE = r"[0-9a-fA-F-]{32,36}"


# --- filters ---------------------------------------------------------------------------------------
class ChoiceInFilter(filters.BaseInFilter, filters.ChoiceFilter):
    """Comma-separated values, each checked against the choices: ?level=info,warn"""


class UTCIsoDateTimeField(IsoDateTimeField):
    """In UTC, refusing UTC offsets beyond ±15:59 as the monitoring endpoint does: Python accepts
    them up to ±24 h, PostgreSQL does not, and no real time zone is that far from UTC."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        offset = result.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError("has a UTC offset beyond ±15:59.", code="invalid")
        try:
            return result.astimezone(dt_timezone.utc)
        except OverflowError:
            raise forms.ValidationError("Datetime value out of range.", code="invalid")


class UTCDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class StrictBooleanField(forms.Field):
    """true / false (also 1 / 0, yes / no); anything else is a 400, not a silently ignored filter."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        # The value goes in params, not into the message: django-filter %-formats messages, and a
        # value with a % in it would break that (a 500).
        raise forms.ValidationError("must be true or false, got '%(value)s'", code="invalid",
                                    params={"value": str(value)[:50]})


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class ScopedFilterSet(filters.FilterSet):
    """workflow_id names a workflow by its external id; one the caller cannot see is a 404."""

    workflow_id = filters.CharFilter(method="filter_workflow", max_length=255)
    team = filters.CharFilter(method="filter_team", max_length=64)
    workflow_field = "workflow"

    def filter_workflow(self, queryset, name, value):
        found = queries.find_workflows(self.request.principal, external_id=value)
        return queryset.filter(**{f"{self.workflow_field}__in": found})

    def filter_team(self, queryset, name, value):
        found = queries.find_workflows(self.request.principal, team_slug=value)
        return queryset.filter(**{f"{self.workflow_field}__in": found})


class RecordFilterSet(ScopedFilterSet):
    execution_id = filters.CharFilter(field_name="execution__external_id", max_length=255)
    since = UTCDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="timestamp", lookup_expr="lte")


class LogFilter(RecordFilterSet):
    level = ChoiceInFilter(field_name="log_level", choices=LogLevel.choices)
    node_name = filters.CharFilter(max_length=255)
    q = filters.CharFilter(field_name="message", lookup_expr="icontains", max_length=500)

    class Meta:
        model = ExecutionLog
        fields = []


class ErrorFilter(RecordFilterSet):
    severity = ChoiceInFilter(choices=ErrorSeverity.choices)
    error_type = ChoiceInFilter(choices=ErrorType.choices)
    resolved = BooleanFilter()

    class Meta:
        model = WorkflowError
        fields = []


class PerformanceFilter(RecordFilterSet):
    class Meta:
        model = PerformanceMetric
        fields = []


class AlertFilter(RecordFilterSet):
    severity = ChoiceInFilter(choices=AlertSeverity.choices)
    alert_type = ChoiceInFilter(choices=AlertType.choices)
    acknowledged = BooleanFilter()
    resolved = BooleanFilter()
    status = filters.ChoiceFilter(choices=AlertStatus.choices, method="filter_status",
                                  help_text="firing (not resolved) or resolved")
    source = ChoiceInFilter(choices=AlertSource.choices, help_text="posted, rule, alertmanager, integration; comma-separated")

    class Meta:
        model = Alert
        fields = []

    def filter_status(self, queryset, name, value):
        return queryset.filter(resolved=value == AlertStatus.RESOLVED)

    def filter_team(self, queryset, name, value):
        # A team's alerts include those of no workflow (an infrastructure alert).
        queries.find_workflows(self.request.principal, team_slug=value)  # 404 for a team one cannot see
        return queryset.filter(team__slug=value)


class ExecutionFilter(ScopedFilterSet):
    state = ChoiceInFilter(choices=ExecutionState.choices)
    mode = filters.CharFilter(max_length=32)
    started_after = UTCDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UTCDateTimeFilter(field_name="started_at", lookup_expr="lte")

    class Meta:
        model = Execution
        fields = []


class WorkflowFilter(ScopedFilterSet):
    workflow_field = "pk"
    active = BooleanFilter()
    source = filters.CharFilter(max_length=64)

    def filter_workflow(self, queryset, name, value):
        return queryset.filter(pk__in=queries.find_workflows(self.request.principal, external_id=value))

    def filter_team(self, queryset, name, value):
        return queryset.filter(pk__in=queries.find_workflows(self.request.principal, team_slug=value))

    class Meta:
        model = Workflow
        fields = []


MAX_EXPECTED_INTERVAL_MINUTES = 365 * 24 * 60


# --- input schemas ---------------------------------------------------------------------------------
class WorkflowIn(StrictSerializer):
    workflow_id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, required=False)
    # How often the workflow is expected to run (the alerting engine's no-executions rule uses it
    # when the rule gives no every_minutes); null: not scheduled. At most a year.
    expected_interval_minutes = serializers.IntegerField(min_value=1, max_value=MAX_EXPECTED_INTERVAL_MINUTES,
                                                         required=False, allow_null=True)
    # Minutes one successful run saves people (monitoring.time_saved); null: not estimated.
    minutes_saved_per_run = serializers.DecimalField(max_digits=7, decimal_places=2, min_value=0,
                                                     max_value=time_saved.MAX_MINUTES_PER_RUN, required=False,
                                                     allow_null=True, coerce_to_string=False)


class WorkflowUpdateIn(WorkflowIn):
    workflow_id = None


class ExecutionUpdateIn(StrictSerializer):
    state = serializers.ChoiceField(choices=ExecutionState.choices, required=False)
    mode = serializers.CharField(max_length=32, required=False, allow_blank=True)
    started_at = TimestampField(required=False)
    stopped_at = TimestampField(required=False, allow_null=True)
    duration_ms = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False, allow_null=True)
    total_steps = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)
    current_step = serializers.CharField(max_length=255, required=False, allow_blank=True)
    step_number = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("started_at") and attrs.get("stopped_at") and attrs["stopped_at"] < attrs["started_at"]:
            raise serializers.ValidationError({"stopped_at": ["must not be before started_at"]})
        return attrs


class ExecutionIn(ExecutionUpdateIn):
    workflow_id = serializers.CharField(max_length=255)
    workflow_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    execution_id = serializers.CharField(max_length=255)
    retry_of = serializers.CharField(max_length=255, required=False, allow_null=True)


def _days(params):
    """?days= for the per-node analysis: an integer within the bounds, or a 400 naming it."""
    raw = params.get("days")
    if raw in (None, ""):
        return node_stats.DEFAULT_DAYS
    low, high = node_stats.MIN_DAYS, node_stats.MAX_DAYS
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValidationError({"days": [f"must be an integer from {low} to {high}, got '{raw[:50]}'"]})
    return int(raw)


def _validated(schema, data, partial=False):
    s = schema(data=data, partial=partial)
    s.is_valid(raise_exception=True)
    return s.validated_data


class ScopedViewSetMixin(AuditedAPIMixin):
    schema = FlowtowerAutoSchema()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.principal = self.principal

    def get_object(self):
        obj = super().get_object()
        log_context.bind_object(obj)  # the request's log lines name its workflow / execution
        return obj

    def require(self, action, team_id, what):
        if not self.principal.can(action, team_id):
            raise PermissionDenied(f"Your role does not allow {what}.")


# --- workflows and executions ------------------------------------------------------------------------
@extend_schema_view(create=extend_schema(request=WorkflowIn), partial_update=extend_schema(request=WorkflowUpdateIn),
                    update=extend_schema(request=WorkflowUpdateIn))
class WorkflowViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    serializer_class = WorkflowOut
    filterset_class = WorkflowFilter
    queryset = Workflow.objects.none()

    def get_queryset(self):
        return queries.visible_workflows(self.principal).order_by("team__slug", "external_id")

    def create(self, request, *args, **kwargs):
        team = ingest_team(self.principal, request)

        def handler():
            data = _validated(WorkflowIn, request.data)
            if Workflow.objects.filter(team=team, source="api", external_id=data["workflow_id"]).exists():
                raise ValidationError({"workflow_id": ["A workflow with this id already exists in this team."]})
            workflow = Workflow.objects.create(
                team=team, external_id=data["workflow_id"], name=data.get("name") or data["workflow_id"],
                active=data.get("active", True), tags=data.get("tags", []),
                expected_interval_minutes=data.get("expected_interval_minutes"),
                minutes_saved_per_run=data.get("minutes_saved_per_run"),
            )
            return Response(WorkflowOut(workflow).data, status=status.HTTP_201_CREATED)

        return idempotent(request, self.principal, handler)

    def update(self, request, *args, **kwargs):
        workflow = self.get_object()
        # The time saved estimate alone is a member's to set, as on the workflow's page.
        estimate_only = isinstance(request.data, dict) and set(request.data) == {"minutes_saved_per_run"}
        if estimate_only:
            self.require(RESPOND, workflow.team_id, "changing the time saved estimate; it needs member or admin")
        else:
            self.require(MANAGE, workflow.team_id, "changing workflows; it needs the team admin role")
        data = dict(_validated(WorkflowUpdateIn, request.data, partial=kwargs.get("partial", False)))
        if "minutes_saved_per_run" in data:  # null clears it; left out, it stays (as the other fields)
            workflow = time_saved.set_estimate(workflow, data.pop("minutes_saved_per_run"))
        # Through services: a change of active, name, tags or schedule is a "workflow" event the
        # alerting engine hears (its "deactivated" rule).
        return Response(WorkflowOut(services.update_workflow(workflow, data)).data)

    def destroy(self, request, *args, **kwargs):
        workflow = self.get_object()
        self.require(MANAGE, workflow.team_id, "deleting workflows; it needs the team admin role")
        try:
            workflow.delete()
        except ProtectedError:
            raise ValidationError("This workflow still has protected records.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        filters=False,
        parameters=[OpenApiParameter(
            "days", {"type": "integer", "minimum": node_stats.MIN_DAYS, "maximum": node_stats.MAX_DAYS,
                     "default": node_stats.DEFAULT_DAYS}, required=False,
            description=f"The window, ending now: {node_stats.MIN_DAYS} to {node_stats.MAX_DAYS} days; "
                        "compared with as many days before it.",
        )],
        responses={200: NodeStatsOut},
    )
    @action(detail=True, methods=["get"], url_path="nodes", filterset_class=None, pagination_class=None)
    def nodes(self, request, pk=None):
        """Per-node analysis of this workflow: per node, runs, p50 / p95 duration and failure share
        over the last `days` days, and the change against the days before; the most failing, then the
        slowest nodes first. Rules in docs/monitoring.md, "Per-node analysis"."""
        return Response(node_stats.node_stats(self.get_object(), days=_days(request.query_params)))


@extend_schema_view(
    # Posting an execution that exists already updates it: 200 instead of 201.
    create=extend_schema(request=ExecutionIn, responses={200: ExecutionOut, 201: ExecutionOut}),
    partial_update=extend_schema(request=ExecutionUpdateIn),
)
class ExecutionViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ExecutionOut
    filterset_class = ExecutionFilter
    queryset = Execution.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return queries.executions(self.principal)

    def create(self, request, *args, **kwargs):
        team = ingest_team(self.principal, request)

        def handler():
            data = _validated(ExecutionIn, request.data)
            execution, created = services.create_execution(team, data)
            return Response(ExecutionOut(execution).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

        return idempotent(request, self.principal, handler)

    def partial_update(self, request, *args, **kwargs):
        execution = self.get_object()
        self.require(INGEST, execution.workflow.team_id, "changing executions; it needs a token or the admin role")
        data = _validated(ExecutionUpdateIn, request.data, partial=True)
        if data.get("stopped_at") and data["stopped_at"] < data.get("started_at", execution.started_at):
            raise ValidationError({"stopped_at": ["must not be before started_at"]})
        return Response(ExecutionOut(services.update_execution(execution, data)).data)


# --- the four records ------------------------------------------------------------------------------
class RecordViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """list / retrieve / create for one record kind; create goes through monitoring.ingest."""

    kind = None  # log | error | performance | alert
    lookup_value_regex = UUID_RE

    def get_queryset(self):
        return queries.records(f"{self.kind}s" if self.kind != "performance" else "performance", self.principal)

    def create(self, request, *args, **kwargs):
        team = ingest_team(self.principal, request)

        def handler():
            valid, errors = validate_records(self.kind, [request.data])
            if errors:
                raise ValidationError(errors["0"])
            result = ingest(team, {self.kind: valid})
            return Response(serialize(self.kind, result.created[self.kind][0]), status=self.created_status(result))

        return idempotent(request, self.principal, handler)

    def created_status(self, result):
        return status.HTTP_201_CREATED


@extend_schema_view(create=extend_schema(request=KINDS["log"][0]))
class LogViewSet(RecordViewSet):
    kind = "log"
    queryset = ExecutionLog.objects.none()
    serializer_class = LogOut
    filterset_class = LogFilter
    pagination_class = LogCursor


@extend_schema_view(create=extend_schema(request=KINDS["performance"][0]))
class PerformanceViewSet(RecordViewSet):
    kind = "performance"
    queryset = PerformanceMetric.objects.none()
    serializer_class = PerformanceOut
    filterset_class = PerformanceFilter


class RespondableViewSet(mixins.UpdateModelMixin, RecordViewSet):
    http_method_names = ["get", "post", "patch", "head", "options"]

    def partial_update(self, request, *args, **kwargs):
        obj = self.get_object()
        self.require(RESPOND, team_id_of(obj), f"changing {self.kind}s; it needs the member or admin role")
        return Response(serialize(self.kind, self.respond(obj, request.data)))


@extend_schema_view(create=extend_schema(request=KINDS["error"][0]), partial_update=extend_schema(request=ErrorUpdateIn))
class ErrorViewSet(RespondableViewSet):
    kind = "error"
    queryset = WorkflowError.objects.none()
    serializer_class = ErrorOut
    filterset_class = ErrorFilter

    def respond(self, obj, body):
        data = _validated(ErrorUpdateIn, body)
        return services.resolve_error(obj, self.principal, data["resolved"], data.get("resolution_notes", ""),
                                      data.get("resolved_by", ""))


@extend_schema_view(
    # Posting an alert that repeats an open one (same fingerprint) counts it: 200 with that alert.
    create=extend_schema(request=KINDS["alert"][0], responses={200: AlertOut, 201: AlertOut}),
    partial_update=extend_schema(request=AlertUpdateIn),
)
class AlertViewSet(RespondableViewSet):
    kind = "alert"
    queryset = Alert.objects.none()
    serializer_class = AlertOut
    filterset_class = AlertFilter

    def created_status(self, result):
        stored = result.created[self.kind][0]
        return status.HTTP_201_CREATED if stored.pk in result.new_alerts else status.HTTP_200_OK

    def respond(self, obj, body):
        data = _validated(AlertUpdateIn, body)
        return services.update_alert(
            obj, self.principal, acknowledged=data.get("acknowledged"), resolved=data.get("resolved"),
            notes=data.get("resolution_notes", ""), actor_claim=data.get("acknowledged_by") or data.get("resolved_by") or "",
        )
