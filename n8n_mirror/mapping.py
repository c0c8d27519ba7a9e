"""From what a reader gives back (readers.base) to the dicts monitoring's ingestion takes: an
execution (ExecutionIn's fields), its logs, errors and performance record (monitoring.schemas'
LogIn, ErrorIn, PerformanceIn) and the workflow (WorkflowIn's fields plus what the Workflow
model does not store yet). Plain functions, no database: the sync engine does the writing."""

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from monitoring.time_saved import MAX_MINUTES_PER_RUN

from .error_types import infer_error_type
from .schedule import workflow_schedule_minutes

FINAL_STATUSES = ("success", "error", "canceled", "crashed")
FAILED_STATUSES = ("error", "crashed")
# A node is a bottleneck when it takes at least this share of the whole run.
BOTTLENECK_SHARE = 0.25
WORKFLOW_RECORD_FIELDS = ("workflow_id", "name", "active", "tags")
MAX_TEXT = 100_000  # ErrorIn/LogIn message bounds
MAX_STACK = 200_000


def map_workflow(workflow):
    """WorkflowIn's fields (workflow_id, name, active, tags; see WORKFLOW_RECORD_FIELDS) plus
    node_count, schedule_minutes (the expected interval of its Schedule Trigger or Cron node,
    None without one) and minutes_saved_per_run (its time saved setting, None without one)."""
    return {
        "workflow_id": workflow.id,
        "name": workflow.name[:255],
        "active": workflow.active,
        "tags": [str(t)[:64] for t in workflow.tags][:50],
        "node_count": len(workflow.nodes),
        "schedule_minutes": workflow_schedule_minutes(workflow.nodes),
        "minutes_saved_per_run": workflow_minutes_saved(workflow.settings),
    }


def workflow_minutes_saved(settings):
    """The minutes one successful run saves, from n8n's workflow settings (Insights, n8n ≥ 1.9x):
    `timeSavedPerExecution`, in minutes, when positive and `timeSavedMode` is not "dynamic" (there
    Time Saved nodes count each run's minutes: no fixed estimate). None otherwise: n8n records
    no time saved for 0 or no value either. Rounded to 2 decimals, capped at a week."""
    settings = settings if isinstance(settings, dict) else {}
    value = settings.get("timeSavedPerExecution")
    dynamic = settings.get("timeSavedMode") == "dynamic"
    if dynamic or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        minutes = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    if not minutes.is_finite() or minutes <= 0:
        return None
    return min(minutes, MAX_MINUTES_PER_RUN)


def _ms_time(milliseconds):
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)


def _duration_ms(execution):
    if execution.started_at and execution.stopped_at:
        return max(0, round((execution.stopped_at - execution.started_at).total_seconds() * 1000))
    return None


def node_runs(execution):
    """Every node run of the execution in the order n8n ran them: [(node name, run index, run)].
    n8n numbers runs with executionIndex; older data has only startTime."""
    runs = [(name, index, run) for name, node_runs_ in (execution.run_data or {}).items()
            for index, run in enumerate(node_runs_ or []) if isinstance(run, dict)]
    return sorted(runs, key=lambda r: (r[2].get("executionIndex", float("inf")), r[2].get("startTime") or 0))


def _item_count(run):
    # Items a node run put out, over all its outputs (an IF node has two).
    outputs = ((run.get("data") or {}).get("main")) or []
    return sum(len(items or []) for items in outputs)


def _common(execution, workflow):
    record = {"workflow_id": execution.workflow_id, "execution_id": execution.id}
    if workflow is not None:
        record["workflow_name"] = workflow.name[:255]
    return record


def map_execution(execution, workflow=None):
    """ExecutionIn's fields, plus metadata {"n8n_custom_data": {…}} when the workflow saved custom
    data (monitoring's ingestion takes it on "execution" records; the REST API does not). Stop time
    and duration only once n8n says it finished (a waiting execution has a stoppedAt in n8n, but it
    has not ended); total_steps is the workflow's node count when the workflow is given."""
    final = execution.status in FINAL_STATUSES
    record = {
        **_common(execution, workflow),
        "state": execution.status if execution.status in (*FINAL_STATUSES, "new", "running", "waiting") else "running",
        "mode": (execution.mode or "")[:32],
        "started_at": execution.started_at,
        "retry_of": execution.retry_of,
        "total_steps": len(workflow.nodes) if workflow is not None else None,
    }
    if execution.custom_data:
        # What the workflow saved about this run (Execution Data node): kept with the execution.
        record["metadata"] = {"n8n_custom_data": dict(execution.custom_data)}
    if final:
        record["stopped_at"], record["duration_ms"] = execution.stopped_at, _duration_ms(execution)
    else:
        runs = node_runs(execution)
        record["current_step"] = (execution.last_node_executed or (runs[-1][0] if runs else ""))[:255]
        record["step_number"] = len(runs) or None
    return {k: v for k, v in record.items() if v is not None}


def _node_ids(workflow):
    return {n.get("name"): n.get("id") or "" for n in (workflow.nodes if workflow else []) if isinstance(n, dict)}


def map_logs(execution, workflow=None):
    """One LogIn record per node run, numbered in execution order (step 1 = the trigger)."""
    node_ids = _node_ids(workflow)
    logs = []
    for step, (name, run_index, run) in enumerate(node_runs(execution), start=1):
        status = run.get("executionStatus") or ("error" if run.get("error") else "success")
        items, duration = _item_count(run), run.get("executionTime")
        error = run.get("error")
        message = f"{name}: {status}, {items} item{'s' if items != 1 else ''}"
        if error:
            message += f": {error.get('message') or 'error'}"
        record = {
            **_common(execution, workflow),
            "log_level": "error" if error else "info",
            "message": message[:MAX_TEXT],
            "node_id": str(node_ids.get(name, ""))[:255],
            "node_name": name[:255],
            "step_number": step,
            "duration": int(duration) if isinstance(duration, (int, float)) and duration >= 0 else None,
            "metadata": {"items": items, "status": status, "run_index": run_index},
        }
        if run.get("startTime"):
            record["timestamp"] = _ms_time(run["startTime"])
        logs.append(record)
    return logs


def _node_name(error):
    node = error.get("node")
    return (node.get("name") if isinstance(node, dict) else node) or ""


def _error_record(execution, workflow, error, node_name, severity):
    code = error.get("httpCode") or error.get("code") or ""
    metadata = {key: value for key, value in {
        "n8n_error": error.get("name") or "",
        "description": error.get("description") or "",
        "http_code": str(code) if code else "",
        "level": error.get("level") or "",
        "line_number": error.get("lineNumber"),  # where a Code node threw
    }.items() if value not in (None, "")}
    record = {
        **_common(execution, workflow),
        "error_type": infer_error_type(error),
        "error_code": str(code)[:100],
        "error_message": (error.get("message") or error.get("description") or "n8n reported an error")[:MAX_TEXT],
        "error_stack": str(error.get("stack") or "")[:MAX_STACK],
        "node_name": (node_name or "")[:255],
        "severity": severity,
        "metadata": metadata,
    }
    if error.get("timestamp"):
        record["timestamp"] = _ms_time(error["timestamp"])
    elif execution.stopped_at:
        record["timestamp"] = execution.stopped_at
    return record


def map_errors(execution, workflow=None):
    """ErrorIn records: each node run's error, then resultData.error unless it is the same error
    (n8n repeats the failing node's error there). Severity high in a failed execution, medium for
    node errors the workflow went past (continue on fail). A failed execution without any error
    detail (e.g. crashed) still gets one record, of type system."""
    failed = execution.status in FAILED_STATUSES
    severity = "high" if failed else "medium"
    records, seen = [], set()
    for name, _, run in node_runs(execution):
        error = run.get("error")
        if isinstance(error, dict):
            records.append(_error_record(execution, workflow, error, name, severity))
            seen.add((name, error.get("message")))
    error = execution.error
    # n8n 2.x repeats a Code node's error there without naming the node: the same message is
    # the same error.
    seen_messages = {message for _, message in seen}
    if isinstance(error, dict) and (_node_name(error), error.get("message")) not in seen \
            and not (not _node_name(error) and error.get("message") in seen_messages):
        records.append(_error_record(execution, workflow, error, _node_name(error), severity))
    if failed and not records:
        records.append({
            **_common(execution, workflow), "error_type": "system", "severity": "high",
            "error_message": f"n8n reports this execution as {execution.status} without error details",
            "node_name": (execution.last_node_executed or "")[:255],
            **({"timestamp": execution.stopped_at} if execution.stopped_at else {}),
        })
    return records


def map_performance(execution, workflow=None):
    """One PerformanceIn record for a finished execution (None while it runs or without data):
    nodes that ran, how many succeeded or failed, throughput as items put out by all node runs
    per second of the run, and the bottleneck nodes (each ≥ BOTTLENECK_SHARE of the run, slowest
    first)."""
    total = _duration_ms(execution)
    if execution.status not in FINAL_STATUSES or total is None or not execution.data_available:
        return None
    per_node, failed, items = {}, set(), 0
    for name, _, run in node_runs(execution):
        per_node[name] = per_node.get(name, 0) + (run.get("executionTime") or 0)
        items += _item_count(run)
        if run.get("error") or run.get("executionStatus") == "error":
            failed.add(name)
    slowest = sorted(per_node.items(), key=lambda pair: pair[1], reverse=True)
    bottlenecks = [name for name, ms in slowest if total and ms / total >= BOTTLENECK_SHARE]
    return {
        **_common(execution, workflow),
        "total_duration": total,
        "node_count": len(per_node),
        "successful_nodes": len(per_node) - len(failed),
        "failed_nodes": len(failed),
        "throughput": round(items / (total / 1000), 2) if total else None,
        "bottleneck_nodes": [name[:255] for name in bottlenecks][:100],
        "metadata": {"items": items, "node_durations_ms": per_node},
        **({"timestamp": execution.stopped_at} if execution.stopped_at else {}),
    }


def map_execution_records(execution, workflow=None):
    """Everything one n8n execution becomes: {"execution": …, "logs": […], "errors": […],
    "performance": [...] (empty while unfinished)}."""
    performance = map_performance(execution, workflow)
    return {
        "execution": map_execution(execution, workflow),
        "logs": map_logs(execution, workflow),
        "errors": map_errors(execution, workflow),
        "performance": [performance] if performance else [],
    }
