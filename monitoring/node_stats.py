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

Logs without an execution belong to no run and are not counted.

Cost: on PostgreSQL, one query over the node rollups (monitoring.rollups.node_windows; hour and
day rows kept by a trigger on the logs, migration 0011) plus the raw logs of the partial hours at
the windows' edges; the percentiles come from the rollups' duration bins, within
rollups.PERCENTILE_BOUND of the exact value (docs/rollups.md, "Node runs"); a workflow with at most
EXACT_UP_TO runs in the two windows gets the exact computation from its logs (a second, small
query: its answer exact, as small test and demo workflows expect). On other databases
(SQLite in the demo), one aggregate over this workflow's logs of the two windows, the percentiles
computed in Python over the newest PYTHON_SAMPLE runs. _windows_sql is the exact computation in
PostgreSQL from the logs, kept to check the rollups against.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db import connection
from django.db.models import Case, IntegerField, Max, Min, Sum, Value, When
from django.utils import timezone

from . import rollups
from .models import ExecutionLog, LogLevel, Workflow
from .stats import percentile

MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 30, 7
FAILED_LEVELS = (LogLevel.ERROR, LogLevel.FATAL)
PYTHON_SAMPLE = 20_000  # node runs read at most on databases without percentile_cont
EXACT_UP_TO = 2_000  # node runs in both windows up to which PostgreSQL computes from the raw logs


def node_stats(workflow: Workflow, days: int = DEFAULT_DAYS, now=None) -> dict:
    """{"workflow_id", "days", "nodes": [...]} for `workflow` over [now - days, now), each node
    compared with [now - 2*days, now - days). The caller checks access; days must be 1..30."""
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be an integer from {MIN_DAYS} to {MAX_DAYS}")
    now = now or timezone.now()
    start = now - timedelta(days=days)
    since = start - timedelta(days=days)
    if rollups.available():
        windows, runs = _windows_rollups(workflow, since, start, now)
        if runs <= EXACT_UP_TO:  # few runs: the exact percentiles cost no more than the rollups
            windows = _windows_sql(_node_runs(workflow, since, now), start)
    else:
        windows = _windows_python(_node_runs(workflow, since, now), start)
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
        .exclude(execution_id=None)
        .order_by()
        .values("node_name", "execution_id")
        .annotate(first_at=Min("timestamp"), duration_ms=Sum("duration"), failed=Max(failed))
    )


def _windows_rollups(workflow, since, start, until):
    """The same answer from the node rollups, percentiles from their duration bins; and how many
    runs the two windows hold."""
    found = rollups.node_windows(workflow.pk, [(since, start), (start, until)])
    windows = {(name, window == 1): _window(count, failed, rollups.histogram_percentile(histogram, 50),
                                            rollups.histogram_percentile(histogram, 95))
               for (name, window), (count, failed, histogram) in found.items()}
    return windows, sum(count for count, _, _ in found.values())


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
