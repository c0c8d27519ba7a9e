"""Per-node analysis of one workflow: for each node, over the last `days` days, how often it ran,
how long it took (p50, p95), how often it failed, and the change against the `days` before.

One function, node_stats(workflow, days, now), answers the REST API, the workflow page and the
MCP server alike. Its input is the per-node logs (node_name set), from any source: the n8n mirror
writes one log per node run, REST clients post theirs.

What counts:
- a run is one node in one execution: its logs' durations add up (an n8n loop that runs a node
  three times is that node's time in that execution), and it failed if any of its logs is
  error or fatal. A run belongs to the window in which its first log falls;
- failure_share = failed runs / runs (0..1); p50_ms / p95_ms interpolate linearly between the
  runs' durations (PostgreSQL's percentile_cont), runs without any duration are counted but not
  timed;
- nodes are those that ran in the current window, the most failing first (failure share,
  highest first), then the slowest (p95, highest first; untimed last), then by name.

Cost: one aggregate query over the (workflow, -timestamp) index range of this workflow's logs in
the two windows; other workflows' data never enters. On PostgreSQL the percentiles are computed in
SQL; on other databases (SQLite in the demo) in Python over the newest PYTHON_SAMPLE runs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db import connection
from django.db.models import Case, IntegerField, Max, Min, Sum, Value, When
from django.utils import timezone

from .models import ExecutionLog, LogLevel, Workflow
from .stats import percentile

MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 30, 7
FAILED_LEVELS = (LogLevel.ERROR, LogLevel.FATAL)
PYTHON_SAMPLE = 20_000  # node runs read at most on databases without percentile_cont


def node_stats(workflow: Workflow, days: int = DEFAULT_DAYS, now=None) -> dict:
    """{"workflow_id", "days", "nodes": [...]} for `workflow` over [now - days, now), each node
    compared with [now - 2*days, now - days). The caller checks access; days must be 1..30."""
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be an integer from {MIN_DAYS} to {MAX_DAYS}")
    now = now or timezone.now()
    start = now - timedelta(days=days)
    runs = _node_runs(workflow, start - timedelta(days=days), now)
    windows = _windows_sql(runs, start) if connection.vendor == "postgresql" else _windows_python(runs, start)
    nodes = [_node(name, current, windows.get((name, False))) for (name, is_current), current in windows.items()
             if is_current]
    nodes.sort(key=_worst_first)
    return {"workflow_id": workflow.external_id, "days": days, "nodes": nodes}


def _node_runs(workflow, since, until):
    """One row per (node, execution) in the range: its first log time, summed duration, and 1 if
    any of its logs failed. A query, not yet run: both ways of aggregating build on it."""
    failed = Case(When(log_level__in=FAILED_LEVELS, then=Value(1)), default=Value(0), output_field=IntegerField())
    return (
        ExecutionLog.objects.filter(workflow_id=workflow.pk, timestamp__gte=since, timestamp__lt=until)
        .exclude(node_name="")
        .order_by()
        .values("node_name", "execution_id")
        .annotate(first_at=Min("timestamp"), duration_ms=Sum("duration"), failed=Max(failed))
    )


def _windows_sql(runs, start):
    """(node, is_current) -> counts and percentiles, aggregated by PostgreSQL in one query."""
    inner, params = runs.query.sql_with_params()
    sql = f"""
        SELECT node_name, first_at >= %s AS is_current, COUNT(*), SUM(failed),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
        FROM ({inner}) AS runs GROUP BY node_name, is_current
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, (start, *params))
        rows = cursor.fetchall()
    return {(name, is_current): _window(count, failed, p50, p95) for name, is_current, count, failed, p50, p95 in rows}


def _windows_python(runs, start):
    """The same answer as _windows_sql, computed here over the newest PYTHON_SAMPLE runs."""
    grouped = defaultdict(lambda: {"count": 0, "failed": 0, "durations": []})
    for run in runs.order_by("-first_at")[:PYTHON_SAMPLE]:
        group = grouped[(run["node_name"], run["first_at"] >= start)]
        group["count"] += 1
        group["failed"] += run["failed"]
        group["durations"].append(run["duration_ms"])
    return {key: _window(g["count"], g["failed"], percentile(g["durations"], 50), percentile(g["durations"], 95))
            for key, g in grouped.items()}


def _window(count, failed, p50, p95):
    return {"runs": count, "p50_ms": _ms(p50), "p95_ms": _ms(p95), "failure_share": round(failed / count, 4)}


def _ms(value):
    return None if value is None else round(value)


def _node(name, current, previous):
    """A node's entry: its current window, the previous one (or None) and the change between them."""
    entry = {"node_name": name, **current, "previous": None, "change": None}
    if previous:
        entry["previous"] = {key: previous[key] for key in ("runs", "p95_ms", "failure_share")}
        entry["change"] = {
            "runs": current["runs"] - previous["runs"],
            "p95_ms": None if None in (current["p95_ms"], previous["p95_ms"]) else current["p95_ms"] - previous["p95_ms"],
            "failure_share": round(current["failure_share"] - previous["failure_share"], 4),
        }
    return entry


def _worst_first(node):
    """Most failing first, then slowest (untimed last), then by name."""
    p95 = node["p95_ms"]
    return (-node["failure_share"], p95 is None, -(p95 or 0), node["node_name"])
