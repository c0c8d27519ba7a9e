"""Statistics for the web UI: percentiles, time series, per-workflow rows, node timings.

Computed here, not in views, so the pages, the API and a future MCP server agree. Today they read
the executions of the window; hourly rollups can replace that without changing the answers.
"""

from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from .access import Principal, scope
from .models import FAILED_STATES, Alert, Execution, ExecutionLog, ExecutionState, PerformanceMetric, WorkflowError

# period -> (length, bucket size)
PERIODS = {
    "1h": (timedelta(hours=1), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
STATS_WINDOW = timedelta(days=7)  # per-workflow success rate and p95


def percentile(values, p):
    """The p-th percentile (0-100) by linear interpolation, or None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    k = (len(data) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(data) - 1)
    return round(data[low] + (data[high] - data[low]) * (k - low))


def _executions(principal, since, workflows=None):
    qs = scope(Execution.objects.filter(started_at__gte=since), principal)
    if workflows is not None:
        qs = qs.filter(workflow__in=workflows)
    return qs


def overview(principal: Principal, period="24h", now=None):
    """Cards and chart series for the overview page."""
    now = now or timezone.now()
    length, step = PERIODS[period]
    start = now - length
    rows = list(_executions(principal, start).values_list("started_at", "state", "duration_ms"))
    buckets = []
    count = int(length / step)
    for i in range(count):
        b_start = start + step * i
        buckets.append({"start": b_start, "success": 0, "failed": 0, "other": 0, "durations": []})
    for started, state, duration in rows:
        index = min(int((started - start) / step), count - 1)
        bucket = buckets[index]
        key = "success" if state == ExecutionState.SUCCESS else "failed" if state in FAILED_STATES else "other"
        bucket[key] += 1
        if duration is not None:
            bucket["durations"].append(duration)
    for bucket in buckets:
        finished = bucket["success"] + bucket["failed"]
        bucket["error_rate"] = round(bucket["failed"] * 100 / finished, 1) if finished else None
        bucket["p95"] = percentile(bucket.pop("durations"), 95)
    durations = [d for _, _, d in rows if d is not None]
    successes = sum(1 for _, s, _ in rows if s == ExecutionState.SUCCESS)
    open_counts = {
        "open_errors": scope(WorkflowError.objects.filter(resolved=False), principal).count(),
        "unacknowledged_alerts": unacknowledged_alerts(principal),
    }
    return {
        "period": period,
        "start": start,
        "end": now,
        "executions": len(rows),
        "success_rate": round(successes * 100 / len(rows), 2) if rows else None,
        "average_duration": round(sum(durations) / len(durations)) if durations else None,
        "p95_duration": percentile(durations, 95),
        **open_counts,
        "series": buckets,
    }


def unacknowledged_alerts(principal: Principal):
    """Open alerts nobody has acknowledged yet: the number in the navigation."""
    return scope(Alert.objects.filter(acknowledged=False, resolved=False), principal).count()


def workflow_rows(principal: Principal, workflows, now=None):
    """Per workflow: latest execution, success rate and p95 duration over the last 7 days.
    Three queries whatever the number of workflows."""
    now = now or timezone.now()
    workflows = list(workflows)
    pks = [w.pk for w in workflows]
    latest = {}
    for e in (
        Execution.objects.filter(workflow_id__in=pks)
        .order_by("workflow_id", "-started_at")
        .distinct("workflow_id")
        if _supports_distinct_on()
        else _latest_fallback(pks)
    ):
        latest[e.workflow_id] = e
    durations = defaultdict(list)
    counts = defaultdict(lambda: [0, 0])
    for wf, state, duration in Execution.objects.filter(
        workflow_id__in=pks, started_at__gte=now - STATS_WINDOW
    ).values_list("workflow_id", "state", "duration_ms"):
        counts[wf][0] += 1
        counts[wf][1] += state == ExecutionState.SUCCESS
        if duration is not None:
            durations[wf].append(duration)
    rows = []
    for w in workflows:
        total, ok = counts[w.pk]
        rows.append({
            "workflow": w,
            "latest": latest.get(w.pk),
            "executions": total,
            "success_rate": round(ok * 100 / total, 1) if total else None,
            "p95_duration": percentile(durations[w.pk], 95),
        })
    return rows


def _supports_distinct_on():
    from django.db import connection

    return connection.features.can_distinct_on_fields


def _latest_fallback(pks):
    # SQLite (the demo) has no DISTINCT ON: one small query per workflow is fine at demo scale.
    return [e for pk in pks if (e := Execution.objects.filter(workflow_id=pk).order_by("-started_at").first())]


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
