"""The aggregated queries window kinds share. Each reads only the executions of a time window,
through the (state, started_at) index on executions (a filter on the state leads, so PostgreSQL
walks the index range of each state instead of the table), grouped by workflow: one query per
distinct window, whatever the number of rules and workflows, and none reads logs."""

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Min, OuterRef, Q, Subquery

from monitoring.models import FAILED_STATES, Execution, ExecutionState, Workflow

# Executions that ran to an outcome; canceled ones are neither a success nor a failure.
FINISHED_STATES = [ExecutionState.SUCCESS, *FAILED_STATES]


class _Percentile95(Aggregate):
    """PostgreSQL's percentile_cont(0.95): interpolated, as Prometheus' histogram_quantile."""

    function = "percentile_cont"
    template = "%(function)s(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _windowed(since, team_ids, states):
    return Execution.objects.filter(state__in=states, started_at__gte=since, workflow__team_id__in=team_ids)


def outcome_counts(since, team_ids):
    """{workflow pk: (failed, finished)} for executions started since `since` that finished."""
    rows = (_windowed(since, team_ids, FINISHED_STATES).values("workflow_id")
            .annotate(finished=Count("id"), failed=Count("id", filter=Q(state__in=FAILED_STATES)))
            .values_list("workflow_id", "failed", "finished"))
    return {wf: (failed, finished) for wf, failed, finished in rows}


def duration_p95(since, team_ids):
    """{workflow pk: (p95 duration in ms, number of runs)} over finished executions started since `since`."""
    qs = _windowed(since, team_ids, FINISHED_STATES).filter(duration_ms__isnull=False)
    if connection.vendor == "postgresql":
        rows = qs.values("workflow_id").annotate(p95=_Percentile95("duration_ms"), runs=Count("id"))
        return {r["workflow_id"]: (r["p95"], r["runs"]) for r in rows.values("workflow_id", "p95", "runs")}
    # SQLite (the `make run` demo) has no percentile aggregate: the same interpolation in Python.
    durations = {}
    for wf, ms in qs.values_list("workflow_id", "duration_ms"):
        durations.setdefault(wf, []).append(ms)
    return {wf: (_interpolated_p95(sorted(values)), len(values)) for wf, values in durations.items()}


def _interpolated_p95(values):
    rank = 0.95 * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def latest_starts(team_ids):
    """{workflow pk: when its latest execution started, or None} for the teams' workflows: one
    probe of the (workflow, started_at) index per workflow (the newest entry), so the cost
    follows the number of workflows, whatever the windows of the rules or the executions stored."""
    newest = Execution.objects.filter(workflow=OuterRef("pk")).order_by("-started_at").values("started_at")[:1]
    rows = Workflow.objects.filter(team_id__in=team_ids).annotate(last=Subquery(newest)).values_list("pk", "last")
    return dict(rows.iterator(chunk_size=5000))


def creation_times(model, pks):
    """{pk: created_at} of some rules or workflows."""
    return dict(model.objects.filter(pk__in=pks).values_list("pk", "created_at")) if pks else {}


def stuck_counts(before, team_ids, states):
    """{workflow pk: {state: (count, oldest started_at)}} for executions still in one of `states`
    that started before `before` and showed no activity since then. Runs that are still going
    are few, so this reads a short stretch of the (state, started_at) index."""
    rows = (Execution.objects.filter(state__in=states, started_at__lte=before, last_activity_at__lte=before,
                                     workflow__team_id__in=team_ids)
            .values("workflow_id", "state").annotate(stuck=Count("id"), oldest=Min("started_at"))
            .values_list("workflow_id", "state", "stuck", "oldest"))
    out = {}
    for wf, state, stuck, oldest in rows:
        out.setdefault(wf, {})[state] = (stuck, oldest)
    return out


def oldest_stuck_execution(workflow_id, states, before):
    """The execution a stuck alert links to: the oldest one still stuck."""
    return (Execution.objects.filter(workflow_id=workflow_id, state__in=states, started_at__lte=before,
                                     last_activity_at__lte=before).order_by("started_at").first())
