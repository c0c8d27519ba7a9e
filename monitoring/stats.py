"""Statistics for the web UI: percentiles, time series, per-workflow rows, node timings.

Computed here, not in views, so the pages, the API and the MCP server agree. On PostgreSQL the
overview and the workflow rows read the hourly and daily rollups (monitoring.rollups): exact
counts, p95 estimated from the duration histogram within rollups.PERCENTILE_BOUND. Other
databases (SQLite in the demo) compute the same counts from the executions in Python, with exact
percentiles. The chart's buckets are aligned to their step in UTC (whole hours, days), the first
one starting before the period and counting only what is in it.
"""

from collections import defaultdict
from datetime import timedelta

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, OuterRef, Q, Subquery
from django.utils import timezone

from . import rollups, time_saved
from .access import Principal, scope
from .models import (
    FAILED_STATES,
    FINAL_STATES,
    Alert,
    ErrorGroup,
    ErrorGroupStatus,
    Execution,
    ExecutionLog,
    ExecutionState,
    PerformanceMetric,
    Workflow,
    WorkflowError,
)

# period -> (length, bucket size)
PERIODS = {
    "1h": (timedelta(hours=1), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
STATS_WINDOW = timedelta(days=7)  # per-workflow success rate and p95


def percentile(values, p):
    """The p-th percentile (0-100) by linear interpolation, or None for no values. The same
    floating-point steps as PostgreSQL's percentile_cont(p / 100), so that the demo (SQLite) and
    PostgreSQL round alike: position (n - 1) * (p / 100), then low + (high - low) * fraction."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    k = (len(data) - 1) * (p / 100)
    low = int(k)
    high = min(low + 1, len(data) - 1)
    return round(data[low] + (data[high] - data[low]) * (k - low))


def _executions(principal, since, workflows=None):
    qs = scope(Execution.objects.filter(started_at__gte=since), principal)
    if workflows is not None:
        qs = qs.filter(workflow__in=workflows)
    return qs


def overview(principal: Principal, period="24h", now=None):
    """Cards and chart series for the overview page. On PostgreSQL one read of the rollups gives
    the chart's buckets, and the period's totals are their sum (histograms merged for the p95);
    elsewhere (SQLite in the demo) Python reads the period's executions. Both give the same
    answer. "counts" are the period's executions as queries.dashboard() counts them, so that the
    page's summary (system health) need not read them again."""
    now = now or timezone.now()
    length, step = PERIODS[period]
    start = now - length
    chart_start = rollups.floor_to(start, step)
    count = int((rollups.floor_to(now, step) - chart_start) / step) + 1
    if rollups.available():
        totals, per_bucket = _overview_rollups(principal, start, chart_start, step, count)
    else:
        totals, per_bucket = _overview_python(_executions(principal, start), chart_start, step, count)
    buckets = []
    for i in range(count):
        b = per_bucket.get(i, {"total": 0, "success": 0, "failed": 0, "p95": None})
        finished = b["success"] + b["failed"]
        buckets.append({
            "start": chart_start + step * i,
            "success": b["success"],
            "failed": b["failed"],
            "other": b["total"] - finished,
            "error_rate": round(b["failed"] * 100 / finished, 1) if finished else None,
            "p95": b["p95"],
        })
    total = totals["total"]
    open_counts = {
        "open_errors": open_errors(principal),
        "open_error_groups": open_error_groups(principal),
        "unacknowledged_alerts": unacknowledged_alerts(principal),
    }
    return {
        "period": period,
        "start": start,
        "end": now,
        "executions": total,
        "success_rate": round(totals["success"] * 100 / total, 2) if total else None,
        "average_duration": round(totals["duration_sum"] / totals["timed"]) if totals["timed"] else None,
        "p95_duration": totals["p95"],
        "counts": {"total": total, "successful": totals["success"], "failed": totals["failed"],
                   "finished": totals["finished"],
                   "average": totals["duration_sum"] / totals["timed"] if totals["timed"] else None},
        **open_counts,
        "series": buckets,
    }


def _bucket_totals(total=0, success=0, failed=0, duration_sum=0, timed=0, p95=None, finished=0):
    return {"total": total, "success": success, "failed": failed, "duration_sum": duration_sum, "timed": timed,
            "p95": p95, "finished": finished}


def _overview_rollups(principal, start, chart_start, step, count):
    """(period totals, bucket index -> totals) from the rollups: one query. A rollup row must fall
    in one chart bucket: daily and 6-hour team rows serve charts of that step, hour rows hourly
    or coarser ones; 5-minute buckets read raw rows only (a period of 1 h)."""
    coarse = step if step in (rollups.DAY, rollups.QUARTER_DAY) else None
    groups = rollups.executions(rollups.teams_target(principal.team_ids()), start, None, (chart_start, step, count),
                                coarse, raw_only=step < rollups.HOUR)
    whole = rollups.Totals()
    per_bucket = {}
    for i, t in groups.items():
        per_bucket[i] = _from_rollup(t)
        for name in ("total", "success", "error", "crashed", "canceled", "duration_sum"):
            setattr(whole, name, getattr(whole, name) + getattr(t, name))
        for duration_bin, n in t.histogram.items():
            whole.histogram[duration_bin] += n
    return _from_rollup(whole), per_bucket


def _from_rollup(t):
    return _bucket_totals(t.total, t.success, t.failed, t.duration_sum, t.timed, t.percentile(95), t.finished)


def _overview_sql(executions, start, step, count):
    """(period totals, bucket index -> totals), aggregated by PostgreSQL in one query. A bucket is
    floor((started_at - start) / step), the last one also taking anything later (as in Python)."""
    inner, params = executions.order_by().values("started_at", "state", "duration_ms").query.sql_with_params()
    sql = f"""
        SELECT bucket, COUNT(*), COUNT(*) FILTER (WHERE state = %s), COUNT(*) FILTER (WHERE state = ANY(%s)),
               SUM(duration_ms), COUNT(duration_ms),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), COUNT(*) FILTER (WHERE state = ANY(%s))
        FROM (
            SELECT LEAST(FLOOR(EXTRACT(EPOCH FROM (e.started_at - %s)) / %s), %s)::int AS bucket,
                   e.state, e.duration_ms
            FROM ({inner}) AS e
        ) AS b
        GROUP BY ROLLUP (bucket)
    """
    head = (ExecutionState.SUCCESS.value, [s.value for s in FAILED_STATES], [s.value for s in FINAL_STATES], start,
            int(step.total_seconds()), count - 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, (*head, *params))
        rows = cursor.fetchall()
    totals, per_bucket = _bucket_totals(), {}
    for bucket, total, success, failed, duration_sum, timed, p95, finished in rows:
        entry = _bucket_totals(total, success, failed, int(duration_sum or 0), timed, _ms(p95), finished)
        if bucket is None:
            totals = entry
        else:
            per_bucket[bucket] = entry
    return totals, per_bucket


def _overview_python(executions, start, step, count):
    """The same answer as _overview_sql, computed here from the period's executions."""
    rows = list(executions.values_list("started_at", "state", "duration_ms"))
    groups = defaultdict(list)
    for row in rows:
        groups[min(int((row[0] - start) / step), count - 1)].append(row)
    return _python_totals(rows), {i: _python_totals(group) for i, group in groups.items()}


def _python_totals(rows):
    durations = [d for _, _, d in rows if d is not None]
    return _bucket_totals(
        len(rows),
        sum(1 for _, s, _ in rows if s == ExecutionState.SUCCESS),
        sum(1 for _, s, _ in rows if s in FAILED_STATES),
        sum(durations),
        len(durations),
        percentile(durations, 95),
        sum(1 for _, s, _ in rows if s in FINAL_STATES),
    )


def _ms(value):
    return None if value is None else round(value)


def open_errors(principal: Principal):
    """Unresolved errors, however old: the overview's card. On PostgreSQL, for members, the
    teams' workflow ids go to the partial index of unresolved errors as one array: an index-only
    count, where joining each open error to its workflow's team took twice as long (~80k open
    errors on the bench dataset)."""
    team_ids = principal.team_ids()
    if team_ids is None or not rollups.available():
        return scope(WorkflowError.objects.filter(resolved=False), principal).count()
    sql = (f"SELECT count(*) FROM {WorkflowError._meta.db_table} WHERE NOT resolved AND workflow_id = ANY(ARRAY("
           f"SELECT id FROM {Workflow._meta.db_table} WHERE team_id = ANY(%s)))")
    with connection.cursor() as cursor:
        cursor.execute(sql, [sorted(team_ids)])
        return cursor.fetchone()[0]


def open_error_groups(principal: Principal):
    """Open error groups (regressed ones included): what the open errors come to, as the Errors
    page lists them. The (team, status, last seen) index counts them."""
    return scope(ErrorGroup.objects.filter(status=ErrorGroupStatus.OPEN), principal, team_field="team").count()


def unacknowledged_alerts(principal: Principal):
    """Open alerts nobody has acknowledged yet: the number in the navigation."""
    return scope(Alert.objects.filter(acknowledged=False, resolved=False), principal).count()


def workflow_rows(principal: Principal, workflows, now=None):
    """Per workflow: latest execution, success rate, p95 duration and time saved over the last 7 days.
    Two queries whatever the number of workflows: the latest executions (one index probe per
    workflow), and the counts and histograms by workflow from the rollups (on PostgreSQL; from
    the executions in Python elsewhere)."""
    now = now or timezone.now()
    workflows = list(workflows)
    pks = [w.pk for w in workflows]
    newest = Execution.objects.filter(workflow=OuterRef("pk")).order_by("-started_at").values("pk")[:1]
    latest_pks = Workflow.objects.filter(pk__in=pks).annotate(latest=Subquery(newest)).values("latest")
    latest = {e.workflow_id: e for e in Execution.objects.filter(pk__in=latest_pks)}
    if rollups.available():
        stats = rollups.workflow_stats(rollups.workflows_target(workflows), now - STATS_WINDOW)
    else:
        window = Execution.objects.filter(workflow_id__in=pks, started_at__gte=now - STATS_WINDOW).order_by()
        stats = _window_stats_python(window)
    rows = []
    for w in workflows:
        total, ok, p95 = stats.get(w.pk, (0, 0, None))
        rows.append({
            "workflow": w,
            "latest": latest.get(w.pk),
            "executions": total,
            "success_rate": round(ok * 100 / total, 1) if total else None,
            "p95_duration": p95,
            # None: not estimated (the page invites setting it).
            "time_saved": None if w.minutes_saved_per_run is None
            else time_saved.minutes_saved(ok, w.minutes_saved_per_run),
        })
    return rows


class _Percentile(Aggregate):
    """PostgreSQL's percentile_cont: linear interpolation, as percentile() does."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _window_stats_sql(window):
    """workflow pk -> (executions, successes, p95 duration), grouped by PostgreSQL."""
    grouped = window.values("workflow_id").annotate(
        total=Count("pk"),
        ok=Count("pk", filter=Q(state=ExecutionState.SUCCESS)),
        p95=_Percentile("duration_ms", fraction=0.95),
    )
    return {g["workflow_id"]: (g["total"], g["ok"], _ms(g["p95"])) for g in grouped}


def _window_stats_python(window):
    """The same answer as _window_stats_sql, computed here (SQLite in the demo)."""
    durations = defaultdict(list)
    counts = defaultdict(lambda: [0, 0])
    for wf, state, duration in window.values_list("workflow_id", "state", "duration_ms"):
        counts[wf][0] += 1
        counts[wf][1] += state == ExecutionState.SUCCESS
        if duration is not None:
            durations[wf].append(duration)
    return {wf: (total, ok, percentile(durations[wf], 95)) for wf, (total, ok) in counts.items()}


def node_timings(execution):
    """Per node of one execution, in order: duration, worst log level, and whether it is a
    bottleneck (named by the performance record, else the slowest node)."""
    nodes = {}
    for log in ExecutionLog.objects.filter(execution=execution).order_by("timestamp", "step_number"):
        name = log.node_name or "(no node)"
        node = nodes.setdefault(name, {"node": name, "step": log.step_number, "duration": 0, "level": "debug"})
        node["duration"] += log.duration or 0
        if _LEVEL_RANK[log.log_level] > _LEVEL_RANK[node["level"]]:
            node["level"] = log.log_level
    rows = list(nodes.values())
    try:
        performance = execution.performance
    except PerformanceMetric.DoesNotExist:
        performance = None
    named = set(performance.bottleneck_nodes) if performance and performance.bottleneck_nodes else None
    slowest = max((r["duration"] for r in rows), default=0)
    total = sum(r["duration"] for r in rows) or 1
    for r in rows:
        r["share"] = round(r["duration"] * 100 / total)
        r["bottleneck"] = r["node"] in named if named is not None else (r["duration"] == slowest and slowest > 0)
    return rows


_LEVEL_RANK = {"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}
