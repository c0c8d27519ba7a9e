"""What the OpenAPI document (/api/v1/schema/) says about both APIs, made to match what they do,
so that a client generated from it — or a fuzzer — sends what the server accepts and expects
what it answers:

- a request body that rejects unknown fields (monitoring.schemas.StrictSerializer) says so
  (additionalProperties: false), and one validated whole is never documented as partial on PATCH;
- metadata is a JSON object, not "any value"; timestamps say how far in the future they may be;
- every operation lists the error answers it can give, with their real shapes: DRF's
  {"detail": …} / {field: [messages]} under /api/v1/, the envelope
  {"success": false, "error": …, "details": …} on the monitoring endpoint, and the 503 envelope
  with Retry-After on both when the database is unreachable (monitoring.api.errors);
- parameters carry the bounds the server enforces (limit, offset, lengths of text filters),
  POSTs document ?team= and the Idempotency-Key header they read.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_doc
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..schemas import BATCH_KEYS, KINDS, MAX_CLOCK_SKEW, MAX_JSON_DEPTH, AlertUpdateIn, ErrorUpdateIn
from ..serializers import OUTPUT, AlertOut, ErrorOut, LogOut
from .idempotency import HEADER as IDEMPOTENCY_HEADER

# Validated as a whole even on PATCH (resolve / acknowledge): drf-spectacular would otherwise
# document them as partial, with `resolved` optional where the server requires it.
VALIDATED_WHOLE = (ErrorUpdateIn, AlertUpdateIn)

# Extra constraints a serializer checks in validate(), in JSON Schema terms.
CROSS_FIELD_RULES = {
    AlertUpdateIn: {"anyOf": [{"required": ["acknowledged"]}, {"required": ["resolved"]}]},
}

TEXT_RULES = "Text fields reject NUL characters and lone surrogates."


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Bodies validated by a StrictSerializer: unknown fields are a 400, so the document closes
    the object; cross-field rules of validate() are added where JSON Schema can say them."""

    target_class = "monitoring.schemas.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        cls = self.target if isinstance(self.target, type) else type(self.target)
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
            schema.update(CROSS_FIELD_RULES.get(cls, {}))
            schema["description"] = " ".join(filter(None, [schema.get("description"), TEXT_RULES]))
        return schema


class MetadataFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "monitoring.schemas.MetadataField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = {"type": "object", "additionalProperties": {}}
        if direction == "request":
            schema["description"] = (
                f"Any JSON object, at most {settings.FLOWTOWER_MAX_METADATA_BYTES} bytes as JSON and nested at most "
                f"{MAX_JSON_DEPTH} levels; no NUL characters in keys or strings; numbers must fit a 64-bit "
                "integer or a finite double. Sensitive-looking values are masked before storage."
            )
        return schema


class TimestampFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "monitoring.schemas.TimestampField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        hours = int(MAX_CLOCK_SKEW.total_seconds() // 3600)
        return {"type": "string", "format": "date-time",
                "description": f"ISO 8601; at most {hours} hour in the future (clock skew). Default: now."}


# --- error answers -------------------------------------------------------------------------------
REQUEST_ID = {"type": "string", "nullable": True, "description": "Quote it when reporting a problem."}
ERROR_SCHEMAS = {
    "ErrorEnvelope": {
        "type": "object",
        "description": "Every failure of the monitoring endpoint, and /api/ answers outside a view "
                       "(unknown URL, too many query parameters).",
        "properties": {
            "success": {"type": "boolean", "description": "Always false."},
            "error": {"type": "string", "description": "What was wrong, in one sentence."},
            "details": {"description": "For invalid input: the fields and their messages.",
                        "anyOf": [{"type": "object", "additionalProperties": {}}, {"type": "array", "items": {}}]},
            "request_id": REQUEST_ID,
        },
        "required": ["success", "error"],
    },
    "ErrorDetail": {
        "type": "object",
        "description": "A failure under /api/v1/ (DRF's shape).",
        "properties": {"detail": {"type": "string"}, "request_id": REQUEST_ID},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "description": "Invalid input under /api/v1/: each field with its messages (non_field_errors for the "
                       "body as a whole; detail for a body that is not JSON), or a list of messages.",
        "anyOf": [{"type": "object", "additionalProperties": {}}, {"type": "array", "items": {"type": "string"}}],
    },
    "ServiceUnavailable": {
        "type": "object",
        "description": "The database (or another backing service) is unreachable; nothing was written. "
                       "Retry after Retry-After seconds.",
        "properties": {"success": {"type": "boolean", "description": "Always false."}, "error": {"type": "string"},
                       "request_id": REQUEST_ID},
        "required": ["success", "error"],
    },
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: the answer names each wrong field or parameter. Nothing was written.",
    "401": "No credentials, or an invalid or revoked service token.",
    "403": "The role does not allow this (or, signed in with a session, the CSRF token is missing).",
    "404": "Not found, or not visible to you (another team's records answer 404 too).",
    "413": f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
    "415": "The body is not application/json.",
    "422": f"This {IDEMPOTENCY_HEADER} was already used with a different request.",
    "429": "Too many requests for this token or user; retry after Retry-After seconds.",
    "503": "The database is unreachable; retry after Retry-After seconds.",
}
ERRORS_BY_METHOD = {
    "GET": ("400", "401", "404", "429", "503"),
    "POST": ("400", "401", "403", "404", "413", "415", "422", "429", "503"),
    "PUT": ("400", "401", "403", "404", "413", "415", "429", "503"),
    "PATCH": ("400", "401", "403", "404", "413", "415", "429", "503"),
    "DELETE": ("400", "401", "403", "404", "429", "503"),
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def component(auto_schema, name, schema):
    """A hand-written schema as a named component; returns its $ref."""
    resolved = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
    auto_schema.registry.register_on_missing(resolved)
    return resolved.ref


class FlowtowerAutoSchema(AutoSchema):
    """drf-spectacular's generator plus the truths above. Views with `envelope = True` answer
    errors in the monitoring endpoint's envelope; others in DRF's shape."""

    def get_description(self):
        """The handler's own docstring; a view class's docstring is written for developers."""
        action = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        return get_doc(action) if action is not None else ""

    def _get_request_for_media_type(self, serializer, direction="request"):
        cls = serializer if isinstance(serializer, type) else type(serializer)
        if self.method == "PATCH" and issubclass(cls, VALIDATED_WHOLE):
            # drf-spectacular would document it as partial ("Patched…"), every field optional.
            return self.resolve_serializer(serializer, direction).ref, True
        return super()._get_request_for_media_type(serializer, direction)

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if "requestBody" in operation and self._body_is_required():
            operation["requestBody"]["required"] = True
        if self.method == "POST":
            operation.setdefault("parameters", []).extend(self._post_parameters(operation))
        self._bound_parameters(operation)
        for code in ERRORS_BY_METHOD[self.method]:
            operation["responses"].setdefault(code, self._error_response(code))
        return operation

    def _body_is_required(self):
        """drf-spectacular cannot tell for hand-written bodies: the monitoring endpoint's are."""
        return getattr(self.view, "envelope", False)

    def _post_parameters(self, operation):
        known = {p["name"] for p in operation.get("parameters", [])}
        extra = [{
            "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
            "description": "A retry with the same key gets the first answer and writes nothing again "
                           f"(remembered {settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS} hours).",
        }]
        if "team" not in known:
            extra.append(team_parameter("The team to write to, by slug: needed by people (not tokens) who may "
                                        "post to several teams."))
        return extra

    def _bound_parameters(self, operation):
        """The bounds the server checks, which drf-spectacular does not know."""
        filterset = getattr(self.view, "filterset_class", None)
        filters = filterset.base_filters if filterset else {}
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] != "query":
                continue
            if not parameter.get("required"):
                parameter["allowEmptyValue"] = True  # ?name= means the same as leaving it out
            if parameter["name"] == "limit":
                schema.update(minimum=1, maximum=settings.FLOWTOWER_MAX_LIMIT, default=50)
            elif parameter["name"] == "offset":
                schema.update(minimum=0, maximum=100_000)
            elif parameter["name"] in filters and schema.get("type") == "string" and "format" not in schema:
                max_length = filters[parameter["name"]].extra.get("max_length")
                if max_length:
                    schema["maxLength"] = max_length

    def _error_response(self, code):
        if code == "503":
            shape = "ServiceUnavailable"
        elif getattr(self.view, "envelope", False):
            shape = "ErrorEnvelope"
        elif code == "400":
            # A request Django refuses before DRF (e.g. too many query parameters) gets the envelope.
            shape = ("ValidationErrors", "ErrorEnvelope")
        elif code == "404":
            # An id that does not match the URL pattern is answered by Django, in the envelope.
            shape = ("ErrorDetail", "ErrorEnvelope")
        else:
            shape = "ErrorDetail"
        names = shape if isinstance(shape, tuple) else (shape,)
        refs = [component(self, name, ERROR_SCHEMAS[name]) for name in names]
        schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
        response = {"description": ERROR_DESCRIPTIONS[code], "content": {"application/json": {"schema": schema}}}
        if code in ("429", "503"):
            response["headers"] = RETRY_AFTER
        return response


def team_parameter(description):
    return {"in": "query", "name": "team", "required": False, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}


def envelope(data_schema, description="", **extra_properties):
    """The monitoring endpoint's success answer: {"success": true, "data": …}."""
    return {
        "type": "object",
        "description": description,
        "properties": {"success": {"type": "boolean", "description": "Always true."}, "data": data_schema,
                       **extra_properties},
        "required": ["success", "data"],
    }


class DocumentOnly(serializers.Serializer):
    """Serializers that exist only to document an answer's shape."""

    def create(self, validated_data):
        raise NotImplementedError

    def update(self, instance, validated_data):
        raise NotImplementedError


# --- answers that no serializer produces (monitoring.queries builds them as dicts) ----------------
@extend_schema_field({"$ref": "#/components/schemas/StateEnum"})
class ExecutionStateField(serializers.CharField):
    """An execution's state: the component /api/v1/executions/ documents (ExecutionOut.state)."""


class LiveStatusOut(DocumentOnly):
    """The latest execution of a workflow: state, progress, timing, counts and its last logs."""

    workflow_id = serializers.CharField()
    team = serializers.CharField()
    execution_id = serializers.CharField()
    current_state = ExecutionStateField()
    progress_percentage = serializers.IntegerField(min_value=0, max_value=100, allow_null=True)
    current_step = serializers.CharField(allow_null=True)
    step_number = serializers.IntegerField(allow_null=True)
    total_steps = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField()
    elapsed_time = serializers.IntegerField(help_text="milliseconds")
    estimated_remaining_time = serializers.IntegerField(allow_null=True, help_text="milliseconds")
    error_count = serializers.IntegerField()
    warning_count = serializers.IntegerField()
    recent_logs = LogOut(many=True)


class PeriodOut(DocumentOnly):
    """The time window a dashboard summarises."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class RecentActivityOut(DocumentOnly):
    """The newest records of the period: 10 logs, 5 errors, 5 alerts."""

    logs = LogOut(many=True)
    errors = ErrorOut(many=True)
    alerts = AlertOut(many=True)


class TimeSavedWorkflowOut(DocumentOnly):
    """One estimated workflow's time saved over the period."""

    workflow_id = serializers.CharField()
    team = serializers.CharField()
    name = serializers.CharField()
    minutes_saved_per_run = serializers.FloatField()
    successful_runs = serializers.IntegerField()
    minutes = serializers.FloatField()


class TimeSavedOut(DocumentOnly):
    """Successful runs times each workflow's minutes saved per run (docs/time-saved.md)."""

    minutes = serializers.FloatField()
    hours = serializers.FloatField(help_text="minutes / 60, rounded to 2 decimals")
    workflows = serializers.IntegerField(help_text="workflows the summary covers")
    estimated_workflows = serializers.IntegerField(help_text="of them, those with minutes saved per run")
    not_estimated_workflows = serializers.IntegerField(help_text="of them, those without (they count 0)")
    top_workflows = TimeSavedWorkflowOut(many=True, help_text="the estimated workflows that saved most, at most 5")


class DashboardOut(DocumentOnly):
    """Counts, success rate and system health over a period (rules in docs/monitoring.md)."""

    period = PeriodOut()
    total_executions = serializers.IntegerField()
    successful_executions = serializers.IntegerField()
    failed_executions = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="percent")
    total_errors = serializers.IntegerField()
    critical_errors = serializers.IntegerField()
    total_alerts = serializers.IntegerField()
    unresolved_alerts = serializers.IntegerField()
    average_execution_time = serializers.IntegerField(allow_null=True, help_text="milliseconds")
    system_health = serializers.ChoiceField(choices=["healthy", "degraded", "critical"])
    recent_activity = RecentActivityOut()
    time_saved = TimeSavedOut()


class BatchCountsOut(DocumentOnly):
    """How many records of each kind a batch stored."""

    logs = serializers.IntegerField()
    errors = serializers.IntegerField()
    performance = serializers.IntegerField()
    alerts = serializers.IntegerField()


class BatchIdsOut(DocumentOnly):
    """The ids of the records a batch stored, in the order they were posted."""

    logs = serializers.ListField(child=serializers.UUIDField())
    errors = serializers.ListField(child=serializers.UUIDField())
    performance = serializers.ListField(child=serializers.UUIDField())
    alerts = serializers.ListField(child=serializers.UUIDField())


class BatchOut(DocumentOnly):
    """What a batch post stored."""

    created = BatchCountsOut()
    ids = BatchIdsOut()


class PaginationOut(DocumentOnly):
    """Where this page is; has_more says whether a next page exists."""

    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()


class RetentionOut(DocumentOnly):
    """What a retention run deleted (or, as a dry run, would delete)."""

    retention_days = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    deleted = serializers.DictField(child=serializers.IntegerField(), help_text="rows deleted (or, dry run, "
                                    "that would be) per record type")


class NodeWindowOut(DocumentOnly):
    """A node in the previous window."""

    runs = serializers.IntegerField(min_value=1)
    p95_ms = serializers.IntegerField(allow_null=True)
    failure_share = serializers.FloatField(min_value=0, max_value=1)


class NodeChangeOut(DocumentOnly):
    """Current minus previous window (null p95_ms when either window has no durations)."""

    runs = serializers.IntegerField()
    p95_ms = serializers.IntegerField(allow_null=True)
    failure_share = serializers.FloatField(min_value=-1, max_value=1)


class NodeOut(DocumentOnly):
    """One node over the window: runs (a run is the node in one execution), durations, failure share."""

    node_name = serializers.CharField()
    runs = serializers.IntegerField(min_value=1)
    p50_ms = serializers.IntegerField(allow_null=True)
    p95_ms = serializers.IntegerField(allow_null=True)
    failure_share = serializers.FloatField(min_value=0, max_value=1, help_text="failed runs / runs")
    previous = NodeWindowOut(allow_null=True, help_text="null when the node did not run in the previous window")
    change = NodeChangeOut(allow_null=True)


class NodeStatsOut(DocumentOnly):
    """Per-node analysis of a workflow, the most failing then the slowest nodes first."""

    workflow_id = serializers.CharField()
    days = serializers.IntegerField()
    nodes = NodeOut(many=True)


# --- the monitoring endpoint -------------------------------------------------------------------
class MonitoringEndpointSchema(FlowtowerAutoSchema):
    """The monitoring endpoint's bodies and answers, per `type`, from the serializers that check
    and produce them. OpenAPI 3.0 cannot tie a body to the `type` query parameter: the body is a
    oneOf (POST) or anyOf (PATCH) of the per-type schemas, and "x-body-by-type" says which is whose."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        bodies = self._bodies_by_type()
        if bodies:
            operation["x-body-by-type"] = bodies
        return operation

    def _bodies_by_type(self):
        if self.method == "POST":
            bodies = {kind: self.resolve_serializer(schema, "request").ref for kind, (schema, _) in KINDS.items()}
            return {**bodies, "batch": self._batch_body(bodies)}
        if self.method == "PATCH":
            return {kind: self.resolve_serializer(schema, "request").ref
                    for kind, schema in (("error", ErrorUpdateIn), ("alert", AlertUpdateIn))}
        return None

    def _batch_body(self, bodies):
        limit = settings.FLOWTOWER_BATCH_MAX_ITEMS
        lists = {key: {"type": "array", "items": bodies[kind], "maxItems": limit} for key, kind in BATCH_KEYS.items()}
        return component(self, "MonitoringBatchRequest", {
            "type": "object",
            "description": f"Several kinds at once: at least one item, at most {limit} in total. Nothing is "
                           "written unless every item is valid.",
            "properties": lists,
            "additionalProperties": False,
            "anyOf": [{"required": [key], "properties": {key: {"minItems": 1}}} for key in BATCH_KEYS],
        })

    def get_request_serializer(self):
        bodies = self._bodies_by_type()
        if not bodies:
            return None
        # The record bodies exclude each other (each requires a field the others refuse): oneOf.
        # A resolve body ({"resolved": true}) suits an error and an alert alike: anyOf.
        combine = "oneOf" if self.method == "POST" else "anyOf"
        return {"application/json": {combine: list(bodies.values())}}

    def get_response_serializers(self):
        def out(kind):
            return self.resolve_serializer(OUTPUT[kind], "response").ref

        def many(kind):
            return {"type": "array", "items": out(kind)}

        if self.method == "GET":
            pagination = self.resolve_serializer(PaginationOut, "response").ref
            live = {"allOf": [self.resolve_serializer(LiveStatusOut, "response").ref], "nullable": True}
            dashboard = self.resolve_serializer(DashboardOut, "response").ref
            data = {"anyOf": [*(many(kind) for kind in KINDS), many("error_group"), live, dashboard]}
            return {200: envelope(data, "type=logs|errors|performance|alerts|error_groups: a list, with "
                                        "pagination; "
                                        "type=live-status: the status or null; type=dashboard: the summary.",
                                  pagination=pagination)}
        if self.method == "POST":
            batch = self.resolve_serializer(BatchOut, "response").ref
            return {201: envelope({"anyOf": [*(out(kind) for kind in KINDS), batch]},
                                  "The stored record (with its id), or for type=batch the counts and ids."),
                    200: envelope(out("alert"), "type=alert repeating an open alert (the same fingerprint): "
                                                "that alert, its occurrences counted; no second alert is made.")}
        if self.method == "PATCH":
            return {200: envelope({"anyOf": [out("error"), out("alert")]}, "The error or alert as it is now.")}
        return {200: envelope(self.resolve_serializer(RetentionOut, "response").ref, "What retention deleted.")}
