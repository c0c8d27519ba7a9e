"""Reads: record lists with their filters, live status and the dashboard summary. Computed here
once for every adapter (REST API, web UI, websockets, MCP server)."""

from datetime import timedelta

from django.db.models import Avg, Count, Q
from django.utils import timezone

from . import rollups
from .access import READ, Principal, scope, team_path
from .models import (
    FAILED_STATES,
    FINAL_STATES,
    Alert,
    AlertSeverity,
    AlertStatus,
    ErrorSeverity,
    Execution,
    ExecutionLog,
    ExecutionState,
    LogLevel,
    PerformanceMetric,
    Team,
    Workflow,
    WorkflowError,
)
from .serializers import serialize_many

RECORD_MODELS = {
    "logs": ExecutionLog,
    "errors": WorkflowError,
    "performance": PerformanceMetric,
    "alerts": Alert,
    "executions": Execution,
}

# What serializing a record reads besides its row (monitoring.serializers).
RELATED = {"alerts": ("team", "workflow", "execution")}
DEFAULT_RELATED = ("workflow__team", "execution")

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}

# How many past successful runs estimate the next one's duration.
ESTIMATE_SAMPLE = 20
RECENT_LOGS = 10


class WorkflowNotFound(Exception):
    pass


def visible_workflows(principal: Principal, action=READ):
    return scope(Workflow.objects.select_related("team"), principal, action, team_field="team")


def find_workflows(principal: Principal, external_id=None, team_slug=None, action=READ):
    """The workflows a filter names, among those the principal may see. Naming one that does not
    exist or belongs to another team raises WorkflowNotFound (a 404), never an empty answer that
    would tell the two apart."""
    qs = visible_workflows(principal, action)
    if team_slug:
        qs = qs.filter(team__slug=team_slug)
        if not qs.exists() and not principal.teams(action).filter(slug=team_slug).exists():
            raise WorkflowNotFound(f"team '{team_slug}' not found")
    if external_id is not None:
        qs = qs.filter(external_id=external_id)
        if not qs.exists():
            raise WorkflowNotFound(f"workflow '{external_id}' not found")
    return qs


def _narrowed(qs, workflows=None, team_slug=None):
    """Only the given workflows' rows, or only one team's. A team's alerts include those of no
    workflow; a list of workflows leaves them out."""
    if workflows is not None:
        qs = qs.filter(workflow__in=workflows)
    if team_slug is not None:
        qs = qs.filter(**{f"{team_path(qs.model)}__slug": team_slug})
    return qs


def executions(principal: Principal, workflows=None, states=None):
    """A scoped queryset of executions, newest first; only the given workflows' and states' if
    given."""
    qs = scope(Execution.objects.select_related("workflow__team", "retry_of"), principal)
    qs = _narrowed(qs, workflows)
    if states:
        qs = qs.filter(state__in=states)
    return qs.order_by("-started_at", "-pk")


def records(kind, principal: Principal, workflows=None, team_slug=None, **filters):
    """A scoped queryset of one record kind ("logs", "errors", "performance", "alerts"), newest
    first. Filters: execution_id, levels, severities, types, resolved, acknowledged, start, end,
    text; for alerts also status (firing / resolved) and sources."""
    model = RECORD_MODELS[kind]
    qs = scope(model.objects.select_related(*RELATED.get(kind, DEFAULT_RELATED)), principal)
    qs = _narrowed(qs, workflows, team_slug)
    if filters.get("execution_id"):
        qs = qs.filter(execution__external_id=filters["execution_id"])
    if filters.get("levels"):
        qs = qs.filter(log_level__in=filters["levels"])
    if filters.get("severities"):
        qs = qs.filter(severity__in=filters["severities"])
    if filters.get("types"):
        qs = qs.filter(**{("error_type" if kind == "errors" else "alert_type") + "__in": filters["types"]})
    for flag in ("resolved", "acknowledged"):
        if filters.get(flag) is not None:
            qs = qs.filter(**{flag: filters[flag]})
    if filters.get("status"):
        qs = qs.filter(resolved=filters["status"] == AlertStatus.RESOLVED)
    if filters.get("sources"):
        qs = qs.filter(source__in=filters["sources"])
    if filters.get("start"):
        qs = qs.filter(timestamp__gte=filters["start"])
    if filters.get("end"):
        qs = qs.filter(timestamp__lte=filters["end"])
    if filters.get("text"):
        field = {"logs": "message", "errors": "error_message", "alerts": "title"}.get(kind)
        if field:
            qs = qs.filter(**{f"{field}__icontains": filters["text"]})
    return qs.order_by("-timestamp", "-pk")


def _expected_duration(workflow, exclude_pk=None):
    recent = (
        Execution.objects.filter(workflow=workflow, state=ExecutionState.SUCCESS, duration_ms__isnull=False)
        .exclude(pk=exclude_pk)
        .order_by("-started_at")
        .values_list("duration_ms", flat=True)[:ESTIMATE_SAMPLE]
    )
    durations = list(recent)
    return int(sum(durations) / len(durations)) if durations else None


def _expected_steps(execution):
    if execution.total_steps:
        return execution.total_steps
    last = (
        PerformanceMetric.objects.filter(workflow_id=execution.workflow_id, node_count__gt=0)
        .order_by("-timestamp")
        .values_list("node_count", flat=True)
        .first()
    )
    return last


def live_status(workflow, now=None):
    """The live status of a workflow's latest execution, or None if it never ran.

    progress_percentage: 100 when finished; otherwise step_number / expected steps (the
    execution's total_steps, else the node count of the workflow's last performance record),
    else elapsed / expected duration; capped at 99 until the run finishes.
    estimated_remaining_time: the mean duration of the last 20 successful runs minus elapsed.
    """
    now = now or timezone.now()
    execution = (
        Execution.objects.filter(workflow=workflow).select_related("workflow__team").order_by("-started_at").first()
    )
    if execution is None:
        return None
    final = execution.is_final
    end = execution.stopped_at if final and execution.stopped_at else now
    elapsed = max(0, int((end - execution.started_at).total_seconds() * 1000))
    if final and execution.duration_ms is not None:
        elapsed = execution.duration_ms
    expected = _expected_duration(workflow, exclude_pk=execution.pk)
    steps = _expected_steps(execution)
    if final:
        progress, remaining = 100, 0
    else:
        remaining = max(0, expected - elapsed) if expected is not None else None
        if steps and execution.step_number is not None:
            progress = min(99, round(execution.step_number * 100 / steps))
        elif expected:
            progress = min(99, round(elapsed * 100 / expected))
        else:
            progress = None
    counts = ExecutionLog.objects.filter(execution=execution).aggregate(
        warnings=Count("pk", filter=Q(log_level=LogLevel.WARN))
    )
    logs = (
        ExecutionLog.objects.filter(execution=execution)
        .select_related("workflow__team", "execution")
        .order_by("-timestamp", "-pk")[:RECENT_LOGS]
    )
    return {
        "workflow_id": workflow.external_id,
        "team": workflow.team.slug,
        "execution_id": execution.external_id,
        "current_state": execution.state,
        "progress_percentage": progress,
        "current_step": execution.current_step or None,
        "step_number": execution.step_number,
        "total_steps": steps,
        "started_at": execution.started_at,
        "elapsed_time": elapsed,
        "estimated_remaining_time": remaining,
        "error_count": WorkflowError.objects.filter(execution=execution).count(),
        "warning_count": counts["warnings"],
        "recent_logs": serialize_many("log", logs),
    }


def period_bounds(period=None, start=None, end=None, now=None):
    now = now or timezone.now()
    end = end or now
    start = start or end - PERIODS[period or "24h"]
    return start, end


def system_health(finished, failed, unresolved_alerts, open_errors):
    """healthy / degraded / critical, by these rules (also in docs/monitoring.md):
    critical: an unresolved critical alert, an unresolved critical error in the period, or at
              least 20 % of at least 5 finished executions failed;
    degraded: an unresolved warning alert, an unresolved high error in the period, or at least
              5 % of at least 5 finished executions failed;
    healthy:  otherwise."""
    failure_rate = failed / finished if finished >= 5 else 0
    if unresolved_alerts["critical"] or open_errors["critical"] or failure_rate >= 0.20:
        return "critical"
    if unresolved_alerts["warning"] or open_errors["high"] or failure_rate >= 0.05:
        return "degraded"
    return "healthy"


def rollup_target(principal: Principal, workflows=None, team_slug=None):
    """Whose rollups a dashboard reads: the given workflows (as far as visible), else one team or
    every team the principal may see."""
    if workflows is not None:
        visible = scope(Workflow.objects.filter(pk__in=workflows), principal, team_field="team")
        if team_slug is not None:
            visible = visible.filter(team__slug=team_slug)
        return rollups.workflows_target(visible.values_list("pk", "team_id"))
    if team_slug is None:
        return rollups.teams_target(principal.team_ids())
    teams = scope(Team.objects.filter(slug=team_slug), principal, team_field="pk")
    return rollups.teams_target(teams.values_list("pk", flat=True))


def _error_counts(principal, workflows, team_slug, errors, start, end):
    """dashboard()'s counts of the period's errors: from the rollups, else from `errors` (the
    period's errors, scoped)."""
    if rollups.available():
        return rollups.errors(rollup_target(principal, workflows, team_slug), start, end)
    return errors.aggregate(
        total=Count("pk"),
        critical=Count("pk", filter=Q(severity=ErrorSeverity.CRITICAL)),
        open_critical=Count("pk", filter=Q(severity=ErrorSeverity.CRITICAL, resolved=False)),
        open_high=Count("pk", filter=Q(severity=ErrorSeverity.HIGH, resolved=False)),
    )


def _dashboard_counts_from_rollups(principal, workflows, team_slug, start, end):
    """The executions' and errors' counts of dashboard(), from the rollups (two queries)."""
    target = rollup_target(principal, workflows, team_slug)
    t = rollups.executions(target, start, end).get(0, rollups.Totals())
    e = {"total": t.total, "successful": t.success, "failed": t.failed, "finished": t.finished,
         "average": t.duration_sum / t.timed if t.timed else None}
    return e, rollups.errors(target, start, end)


RECENT_ACTIVITY = ("logs", "errors", "alerts")
LATEST_LOGS_FIRST = timedelta(days=1)


def _newest_logs(logs, end, n=10):
    """The newest n of `logs` (the period's), looked for in the period's last day first: the
    execution logs are partitioned by day, and a bound in the query lets PostgreSQL plan the
    last day's partitions only, not the period's 30 (planning them was 3 ms of the 30-day
    overview). The whole period when that day had fewer."""
    newest = list(logs.filter(timestamp__gte=end - LATEST_LOGS_FIRST).order_by("-timestamp")[:n]) if end else []
    return newest if len(newest) == n else list(logs.order_by("-timestamp")[:n])


def dashboard(principal: Principal, workflows=None, start=None, end=None, team_slug=None, recent=RECENT_ACTIVITY,
              executions=None):
    """The dashboard summary over [start, end] for the given (already scoped) workflows, one
    team (team_slug), or everything the principal may see. unresolved_alerts counts every open
    alert, however old; a team's alerts include those of no workflow. `recent`: which kinds of
    recent_activity to list (a page that shows only the logs need not serialize the rest).
    `executions`: the period's execution counts {total, successful, failed, finished, average}
    when the caller has them already (the overview page, from the read of its chart)."""
    def base(model, time_field="timestamp"):
        qs = _narrowed(scope(model.objects.all(), principal), workflows, team_slug)
        return qs, qs.filter(**{f"{time_field}__gte": start, f"{time_field}__lte": end})

    _, errors = base(WorkflowError)
    if executions is not None:
        e, err = executions, _error_counts(principal, workflows, team_slug, errors, start, end)
    elif rollups.available():
        e, err = _dashboard_counts_from_rollups(principal, workflows, team_slug, start, end)
    else:
        _, execs = base(Execution, "started_at")
        e = execs.aggregate(
            total=Count("pk"),
            successful=Count("pk", filter=Q(state=ExecutionState.SUCCESS)),
            failed=Count("pk", filter=Q(state__in=FAILED_STATES)),
            # Canceled runs are finished too (README): the failure rate is failed / all finished.
            finished=Count("pk", filter=Q(state__in=FINAL_STATES)),
            average=Avg("duration_ms", filter=Q(duration_ms__isnull=False)),
        )
        err = _error_counts(principal, workflows, team_slug, errors, start, end)
    all_alerts, alerts = base(Alert)
    open_alerts = all_alerts.filter(resolved=False).aggregate(
        total=Count("pk"),
        critical=Count("pk", filter=Q(severity=AlertSeverity.CRITICAL)),
        warning=Count("pk", filter=Q(severity=AlertSeverity.WARNING)),
    )
    _, logs = base(ExecutionLog)
    related = DEFAULT_RELATED
    return {
        "period": {"start": start, "end": end},
        "total_executions": e["total"],
        "successful_executions": e["successful"],
        "failed_executions": e["failed"],
        "success_rate": round(e["successful"] * 100 / e["total"], 2) if e["total"] else None,
        "total_errors": err["total"],
        "critical_errors": err["critical"],
        "total_alerts": alerts.count(),
        "unresolved_alerts": open_alerts["total"],
        "average_execution_time": round(e["average"]) if e["average"] is not None else None,
        "system_health": system_health(
            e["finished"], e["failed"], open_alerts, {"critical": err["open_critical"], "high": err["open_high"]}
        ),
        "recent_activity": {
            kind: rows() for kind, rows in {
                "logs": lambda: serialize_many("log", _newest_logs(logs.select_related(*related), end)),
                "errors": lambda: serialize_many("error", errors.select_related(*related).order_by("-timestamp")[:5]),
                "alerts": lambda: serialize_many("alert", alerts.select_related(*RELATED["alerts"])
                                                 .order_by("-timestamp")[:5]),
            }.items() if kind in recent
        },
    }
