"""/api/workflows/monitoring — the monitoring endpoint, exactly as its contract in
docs/monitoring-endpoint.md reads, so services written against it work unchanged. A thin adapter over monitoring.ingest / queries / services /
retention. Success: {"success": true, "data": …}; failure: {"success": false, "error": …, "details": …}."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import error_groups, queries, retention, services, time_saved
from ..access import INGEST, PRUNE, READ, RESPOND, team_id_of
from ..ingest import ingest
from ..models import (
    AlertSeverity,
    AlertSource,
    AlertStatus,
    AlertType,
    ErrorGroupStatus,
    ErrorSeverity,
    ErrorType,
    LogLevel,
)
from ..schemas import BATCH_KEYS, KINDS, AlertUpdateIn, ErrorUpdateIn, validate_records
from ..serializers import serialize, serialize_many
from . import params
from .audit import AuditedAPIMixin
from .idempotency import idempotent
from .openapi import MonitoringEndpointSchema
from .pagination import parse_bounded_int

LIST_TYPES = {"logs": "log", "errors": "error", "performance": "performance", "alerts": "alert"}
# error_groups: the error groups (docs/error-groups.md), latest occurrence first.
GET_TYPES = [*LIST_TYPES, "error_groups", "live-status", "dashboard"]
POST_TYPES = [*KINDS, "batch"]
PATCH_TYPES = ["error", "alert"]
# The filters each list type applies, as monitoring.queries.records names them: {records' name: query's}.
LIST_FILTERS = {
    "logs": {"levels": "levels"},
    "errors": {"severities": "severities", "types": "error_types", "resolved": "resolved"},
    "performance": {},
    "alerts": {"severities": "severities", "types": "alert_types", "acknowledged": "acknowledged",
               "resolved": "resolved", "status": "status", "sources": "sources"},
}
SEVERITIES = {"errors": ErrorSeverity.values, "alerts": AlertSeverity.values}
ALL_SEVERITIES = sorted({*ErrorSeverity.values, *AlertSeverity.values})


def ok(data, status_code=status.HTTP_200_OK, **extra):
    return Response({"success": True, "data": data, **extra}, status=status_code)


def ingest_team(principal, request):
    """The team a post writes to: a token's own team; for a person, ?team=<slug>, which may be
    left out when they may post to exactly one team."""
    slug = params.text(request.query_params, "team", 64)
    teams = principal.teams(INGEST)
    if slug:
        team = teams.filter(slug=slug).first()
        if team is None:
            if principal.teams(READ).filter(slug=slug).exists():
                raise PermissionDenied("Your role in this team does not allow posting data.")
            raise NotFound(f"team '{slug}' not found")
        return team
    candidates = list(teams[:2])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise PermissionDenied("You may not post data: it needs a team admin role or a service token.")
    raise ValidationError({"team": ["is required: you may post to several teams; add ?team=<slug>"]})


# --- the OpenAPI description ---------------------------------------------------------------------
# One path, four methods, and `type` choosing what a request means. OpenAPI 3.0 cannot tie a body
# or a filter to a query parameter, so each method documents only its own parameters, saying in
# words which types use them; bodies and answers per type: monitoring.api.openapi.MonitoringEndpointSchema.
def _param(name, schema, description="", required=False, **extra):
    return OpenApiParameter(name, schema, required=required, description=description, **extra)


def _list_of(choices):
    return {"type": "array", "items": {"type": "string", "enum": list(choices)}}


def _type_parameter(types, what):
    return _param("type", {"type": "string", "enum": list(types)}, what, required=True)


def _text(max_length):
    return {"type": "string", "maxLength": max_length}


TIME_RULE = "ISO 8601; a UTC offset beyond ±15:59 is refused (PostgreSQL cannot hold it)."
GET_PARAMETERS = [
    _type_parameter(GET_TYPES, "logs, errors, performance, alerts: a page of records, newest first; "
                               "error_groups: a page of error groups, latest occurrence first; "
                               "live-status: the latest execution of one workflow (null if it never ran); "
                               "dashboard: the summary over a period."),
    _param("team", _text(64), "Team slug: only this team's workflows (people in several teams)."),
    _param("workflow_id", _text(255), "The workflow id services use; required for type=live-status."),
    _param("execution_id", _text(255), "Only this execution's records."),
    _param("q", _text(500), "Text search (logs: message, errors: error_message, alerts: title; "
                            "error_groups: title, node name or error code)."),
    _param("log_levels", _list_of(LogLevel.values), "type=logs: these levels only.", style="form",
           explode=False),
    _param("severity", _list_of(ALL_SEVERITIES),
           f"type=errors: {', '.join(ErrorSeverity.values)}; type=alerts: {', '.join(AlertSeverity.values)}.",
           style="form", explode=False),
    _param("error_type", _list_of(ErrorType.values), "type=errors: these error types only.", style="form",
           explode=False),
    _param("alert_type", _list_of(AlertType.values), "type=alerts: these alert types only.", style="form",
           explode=False),
    _param("resolved", OpenApiTypes.BOOL, "type=errors and type=alerts."),
    _param("acknowledged", OpenApiTypes.BOOL, "type=alerts."),
    _param("status", {"type": "string", "enum": AlertStatus.values},
           "type=alerts: firing (not resolved) or resolved."),
    _param("source", _list_of(AlertSource.values), "type=alerts: alerts from these sources only.", style="form",
           explode=False),
    _param("group_status", _list_of(ErrorGroupStatus.values), "type=error_groups: groups of these statuses only.",
           style="form", explode=False),
    _param("start_time", OpenApiTypes.DATETIME, f"Records at or after this time. {TIME_RULE}"),
    _param("end_time", OpenApiTypes.DATETIME, f"Records at or before this time. {TIME_RULE}"),
    _param("period", {"type": "string", "enum": list(queries.PERIODS)},
           "type=dashboard: the period before end_time (default now) when start_time is not given; default 24h."),
    _param("limit", {"type": "integer", "minimum": 1, "maximum": settings.FLOWTOWER_MAX_LIMIT, "default": 50},
           "Records per page."),
    _param("offset", {"type": "integer", "minimum": 0, "maximum": 100_000, "default": 0}, "Records to skip."),
]
POST_PARAMETERS = [
    _type_parameter(POST_TYPES, "The kind of record in the body; batch: several kinds at once."),
    _param("team", _text(64), "Team slug to write to: needed by people (not tokens) who may post to several teams."),
]
PATCH_PARAMETERS = [
    _type_parameter(PATCH_TYPES, "error: resolve or reopen an error; alert: acknowledge and/or resolve an alert."),
    _param("id", OpenApiTypes.UUID, "The error's or alert's id.", required=True),
]
DELETE_PARAMETERS = [
    _param("retention_days", {"type": "integer", "minimum": 1, "maximum": 36_500}, "Delete records older than "
           "this many days (every record type).", required=True),
    _param("dry_run", OpenApiTypes.BOOL, "Count what would be deleted, delete nothing."),
]


class MonitoringEndpoint(AuditedAPIMixin, APIView):
    envelope = True
    schema = MonitoringEndpointSchema()

    # --- GET -------------------------------------------------------------------------------------
    @extend_schema(parameters=GET_PARAMETERS, operation_id="monitoring_get")
    def get(self, request):
        """Read: a page of logs, errors, performance records or alerts; a workflow's live status; or the
        dashboard summary — chosen by `type`. Every filter given is checked, whatever the type; those
        the type has no use for do not change the answer."""
        q = request.query_params
        kind = params.choice(q, "type", GET_TYPES, required=True)
        filters = self._read_filters(q, kind)
        workflows, team_slug = self._workflow_filter(q)
        if kind == "live-status":
            return self._live_status(q, workflows)
        if kind == "dashboard":
            return self._dashboard(workflows, team_slug, filters)
        if kind == "error_groups":
            return self._error_groups(workflows, team_slug, filters)
        return self._list(kind, workflows, team_slug, filters)

    @staticmethod
    def _read_filters(q, kind):
        """Every filter of the query, each checked: a wrong value is a 400 naming it, even in a filter
        this type does not use (it is a mistake in the request all the same, never silently ignored)."""
        start, end, period = params.time_range(q)
        return {
            "execution_id": params.text(q, "execution_id"),
            "text": params.text(q, "q", 500),
            "levels": params.choice_list(q, "log_levels", LogLevel.values),
            "severities": params.choice_list(q, "severity", SEVERITIES.get(kind, ALL_SEVERITIES)),
            "error_types": params.choice_list(q, "error_type", ErrorType.values),
            "alert_types": params.choice_list(q, "alert_type", AlertType.values),
            "resolved": params.boolean(q, "resolved"),
            "acknowledged": params.boolean(q, "acknowledged"),
            "status": params.choice(q, "status", AlertStatus.values),
            "sources": params.choice_list(q, "source", AlertSource.values),
            "group_statuses": params.choice_list(q, "group_status", ErrorGroupStatus.values),
            "start": start,
            "end": end,
            "period": period,
            "limit": parse_bounded_int(q, "limit", 50, 1, settings.FLOWTOWER_MAX_LIMIT),
            "offset": parse_bounded_int(q, "offset", 0, 0, 100_000),
        }

    def _workflow_filter(self, q):
        """(workflows, team slug): a workflow_id names workflows (in one team, with team=); a team
        alone names the team, so that its alerts of no workflow are in its lists and counts."""
        workflow_id = params.text(q, "workflow_id")
        team = params.text(q, "team", 64)
        if workflow_id is None and team is None:
            return None, None
        workflows = queries.find_workflows(self.principal, workflow_id, team)  # 404 for what one cannot see
        if workflow_id is None:
            return None, team
        return workflows, None

    def _live_status(self, q, workflows):
        if params.text(q, "workflow_id") is None:
            raise ValidationError({"workflow_id": ["is required for type=live-status"]})
        found = list(workflows[:2])
        if len(found) > 1:
            raise ValidationError({"team": ["workflow_id exists in several of your teams; add ?team=<slug>"]})
        return ok(queries.live_status(found[0]))

    def _dashboard(self, workflows, team_slug, filters):
        try:
            start, end = queries.period_bounds(filters["period"], filters["start"], filters["end"])
        except OverflowError:
            raise ValidationError({"end_time": ["is too early: the period would start before year 1"]})
        summary = queries.dashboard(self.principal, workflows, start, end, team_slug=team_slug)
        summary["time_saved"] = time_saved.dashboard_block(self.principal, workflows, team_slug, start, end)
        return ok(summary)

    def _list(self, kind, workflows, team_slug, filters):
        applied = {name: filters[name] for name in ("execution_id", "text", "start", "end")}
        applied.update({name: filters[given] for name, given in LIST_FILTERS[kind].items()})
        limit, offset = filters["limit"], filters["offset"]
        rows = list(queries.records(kind, self.principal, workflows, team_slug, **applied)[offset:offset + limit + 1])
        return ok(
            serialize_many(LIST_TYPES[kind], rows[:limit]),
            pagination={"limit": limit, "offset": offset, "has_more": len(rows) > limit},
        )

    def _error_groups(self, workflows, team_slug, filters):
        """Error groups seen at or after start_time and first seen at or before end_time."""
        groups = error_groups.search_groups(self.principal, status=filters["group_statuses"], workflows=workflows,
                                            since=filters["start"], until=filters["end"], search=filters["text"])
        if team_slug is not None:
            groups = groups.filter(team__slug=team_slug)
        limit, offset = filters["limit"], filters["offset"]
        rows = list(groups[offset:offset + limit + 1])
        return ok(serialize_many("error_group", rows[:limit]),
                  pagination={"limit": limit, "offset": offset, "has_more": len(rows) > limit})

    # --- POST ------------------------------------------------------------------------------------
    @extend_schema(parameters=POST_PARAMETERS, operation_id="monitoring_post")
    def post(self, request):
        """Post one log, error, performance record or alert (`type` names which; the body is that
        type's schema, see x-body-by-type), or a batch of several kinds. Tokens write to their team."""
        kind = params.choice(request.query_params, "type", POST_TYPES, required=True)
        team = ingest_team(self.principal, request)
        return idempotent(request, self.principal, lambda: self._ingest(kind, team, request.data))

    def _ingest(self, kind, team, body):
        if kind == "batch":
            return self._ingest_batch(team, body)
        valid, errors = validate_records(kind, [body])
        if errors:
            raise ValidationError(errors["0"])
        result = ingest(team, {kind: valid})
        stored = result.created[kind][0]
        # A repeat of an open alert counts it (occurrences, last_seen_at): 200 with that alert.
        repeat = kind == "alert" and stored.pk not in result.new_alerts
        return ok(serialize(kind, stored), status.HTTP_200_OK if repeat else status.HTTP_201_CREATED)

    def _ingest_batch(self, team, body):
        if not isinstance(body, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object with logs, errors, performance, alerts."]})
        unknown = sorted(set(body) - set(BATCH_KEYS))
        if unknown:
            raise ValidationError({k: [f"Unknown key; expected: {', '.join(BATCH_KEYS)}"] for k in unknown})
        not_lists = [k for k, v in body.items() if not isinstance(v, list)]
        if not_lists:
            raise ValidationError({k: ["Expected a list."] for k in not_lists})
        total = sum(len(v) for v in body.values())
        limit = settings.FLOWTOWER_BATCH_MAX_ITEMS
        if total == 0:
            raise ValidationError({"non_field_errors": ["The batch is empty."]})
        if total > limit:
            raise ValidationError({"non_field_errors": [f"The batch has {total} items; at most {limit} are accepted."]})
        records, errors = {}, {}
        for key, items in body.items():
            kind = BATCH_KEYS[key]
            records[kind], item_errors = validate_records(kind, items)
            if item_errors:
                errors[key] = item_errors
        if errors:
            # Nothing is written unless every item is valid.
            raise ValidationError(errors)
        result = ingest(team, records)
        ids = {key: [str(o.pk) for o in result.created.get(kind, [])] for key, kind in BATCH_KEYS.items()}
        created = {key: len(ids[key]) for key in BATCH_KEYS}
        return ok({"created": created, "ids": ids}, status.HTTP_201_CREATED)

    # --- PATCH -----------------------------------------------------------------------------------
    @extend_schema(parameters=PATCH_PARAMETERS, operation_id="monitoring_patch")
    def patch(self, request):
        """Resolve (or reopen) an error, or acknowledge and/or resolve an alert; members, admins and
        tokens may. The body is the type's schema (x-body-by-type)."""
        q = request.query_params
        kind = params.choice(q, "type", PATCH_TYPES, required=True)
        pk = params.uuid_param(q, "id")
        obj = queries.records(f"{kind}s", self.principal).filter(pk=pk).first()
        if obj is None:
            raise NotFound(f"{kind} '{pk}' not found")
        if not self.principal.can(RESPOND, team_id_of(obj)):
            raise PermissionDenied(f"Your role does not allow changing {kind}s; it needs member or admin.")
        if kind == "error":
            data = self._valid(ErrorUpdateIn, request.data)
            obj = services.resolve_error(obj, self.principal, data["resolved"], data.get("resolution_notes", ""),
                                         data.get("resolved_by", ""))
        else:
            data = self._valid(AlertUpdateIn, request.data)
            obj = services.update_alert(
                obj, self.principal, acknowledged=data.get("acknowledged"), resolved=data.get("resolved"),
                notes=data.get("resolution_notes", ""),
                actor_claim=data.get("acknowledged_by") or data.get("resolved_by") or "",
            )
        return ok(serialize(kind, obj))

    @staticmethod
    def _valid(schema, data):
        s = schema(data=data)
        s.is_valid(raise_exception=True)
        return s.validated_data

    # --- DELETE ----------------------------------------------------------------------------------
    @extend_schema(parameters=DELETE_PARAMETERS, operation_id="monitoring_delete")
    def delete(self, request):
        """Delete records older than retention_days, now (super admins only)."""
        q = request.query_params
        if self.principal.team_ids(PRUNE) is not None:
            raise PermissionDenied("Only super admins may delete data for retention.")
        if q.get("retention_days") in (None, ""):
            raise ValidationError({"retention_days": ["is required"]})
        days = parse_bounded_int(q, "retention_days", None, 1, 36_500)
        dry_run = bool(params.boolean(q, "dry_run"))
        run = retention.prune(retention.retention_days(days), dry_run=dry_run, trigger="api",
                              actor=self.principal.display_name)
        return ok({"retention_days": days, "dry_run": dry_run, "deleted": run.deleted})


