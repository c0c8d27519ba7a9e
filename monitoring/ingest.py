"""The one ingestion path. The REST API, the n8n mirror and the demo generator all hand validated
records (monitoring.schemas) to `ingest`, which in one transaction:

1. registers unknown workflows to the team and finds or creates the executions (a new one starts
   as running; on PostgreSQL its row is written once, after step 3, in the state the batch leaves);
2. masks secrets and writes the records in bulk (logs by one COPY on PostgreSQL, the other
   kinds by one INSERT per kind, never one per row; monitoring.bulk_write) —
   except alerts, which are deduplicated one by one (monitoring.deduplication): a repeat of an
   open alert counts it instead of adding one;
3. moves each touched execution's state (the rules are in docs/monitoring.md):
   - a log: new / queued / waiting -> running; current step = the log's node and step number;
   - an error: a not-yet-final execution -> error, stopped at the error's time;
   - a performance record: duration = total_duration; a not-yet-final execution -> success,
     or error when failed_nodes > 0;
4. publishes events after commit.

Each error is filed under its error group as it is written (monitoring.ingest_errors).

A source that knows an execution's outcome itself (the n8n mirror) also sends "execution"
records (ExecutionIn's fields, plus an optional `metadata` dict that replaces the execution's,
masked): their state, mode, times, duration and steps are applied last, so
the execution ends exactly as the source says, whatever its logs implied. With replace=True the
logs and errors already stored for the executions those records name are deleted first (the
performance record is replaced anyway): re-sending an execution rewrites it, never duplicates it.

A batch touches each workflow and execution once, whatever its size: no N+1.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from . import events, log_context
from .bulk_write import copy_rows, insert_rows, instance_maker, next_ids, update_rows
from .deduplication import posted_fingerprint, record_alert
from .ingest_errors import Dropped, build_error, drop_errors, file_errors, group_events
from .masking import mask_data, mask_text
from .metrics import executions as execution_metrics
from .metrics import ingestion as ingestion_metrics
from .models import (
    FINAL_STATES,
    Execution,
    ExecutionLog,
    ExecutionState,
    PerformanceMetric,
    Workflow,
    WorkflowError,
)
from .serializers import representer, serialize_many

PERFORMANCE_FIELDS = [
    "total_duration", "node_count", "successful_nodes", "failed_nodes", "memory_peak", "memory_average",
    "cpu_peak", "cpu_average", "network_requests", "network_data_transferred", "throughput", "bottleneck_nodes",
]


@dataclass
class IngestResult:
    # kind -> [model instances], in the order posted. For alerts, a repeat of an open alert is
    # that alert (the same id twice when a batch repeats one).
    created: dict = field(default_factory=lambda: defaultdict(list))
    executions: dict = field(default_factory=dict)  # execution pk -> Execution
    new_alerts: set = field(default_factory=set)  # pks of the alerts this ingest created (not repeats)

    def counts(self):
        return {kind: len(self.created.get(kind, [])) for kind in ("log", "error", "performance", "alert")}


def ensure_workflows(team, source, records):
    """external id -> Workflow for every workflow the records name; unknown ones are registered."""
    names = {}
    for kind_records in records.values():
        for r in kind_records:
            names.setdefault(r["workflow_id"], "")
            if r.get("workflow_name"):
                names[r["workflow_id"]] = r["workflow_name"]
    found = {w.external_id: w for w in Workflow.objects.filter(team=team, source=source, external_id__in=names)}
    missing = [Workflow(team=team, source=source, external_id=x, name=names[x] or x) for x in names if x not in found]
    if missing:
        # ignore_conflicts: a concurrent request may register the same workflow first.
        Workflow.objects.bulk_create(missing, ignore_conflicts=True)
        found = {w.external_id: w for w in Workflow.objects.filter(team=team, source=source, external_id__in=names)}
    return found


def _ensure_executions(workflows, records, now):
    """(workflow pk, external execution id) -> Execution, locked for update, created (running) when
    unknown."""
    executions = _find_or_reserve_executions(workflows, records, now)
    _insert_new_executions(executions)
    return executions


def _find_or_reserve_executions(workflows, records, now):
    """(workflow pk, external execution id) -> Execution, locked for update. An unknown one starts
    as running at its first record's time; on PostgreSQL it is not written yet: it gets its id
    now (so records can point at it) and its row once the batch has moved its state
    (_insert_new_executions), so a new execution is written once, in its final state."""
    first_seen = {}
    for kind_records in records.values():
        for r in kind_records:
            if r.get("execution_id") is None:
                continue
            key = (workflows[r["workflow_id"]].pk, r["execution_id"])
            ts = r.get("timestamp") or r.get("started_at") or now
            if key not in first_seen or ts < first_seen[key]:
                first_seen[key] = ts
    if not first_seen:
        return {}
    found = _load_executions(first_seen)
    for execution in found.values():
        execution._created_now = execution._insert = False
    missing = [
        Execution(workflow_id=wf_pk, external_id=ext, state=ExecutionState.RUNNING, started_at=ts, last_activity_at=ts)
        for (wf_pk, ext), ts in first_seen.items()
        if (wf_pk, ext) not in found
    ]
    if missing and connection.vendor == "postgresql":
        for execution, pk in zip(missing, next_ids(Execution, len(missing))):
            execution.pk = pk
            execution._created_now = execution._insert = True
            found[(execution.workflow_id, execution.external_id)] = execution
    elif missing:
        # SQLite: rows written as running now, updated with the rest at the end of the batch.
        before = set(found)
        Execution.objects.bulk_create(missing, ignore_conflicts=True)
        found = _load_executions(first_seen)
        for key, execution in found.items():
            execution._created_now, execution._insert = key not in before, False
    return found


def _load_executions(keys):
    by_workflow = defaultdict(list)
    for wf_pk, ext in keys:
        by_workflow[wf_pk].append(ext)
    qs = Execution.objects.none()
    for wf_pk, ext_ids in by_workflow.items():
        qs = qs | Execution.objects.filter(workflow_id=wf_pk, external_id__in=ext_ids)
    # Lock in primary-key order so concurrent batches cannot deadlock.
    return {(e.workflow_id, e.external_id): e for e in qs.select_for_update().order_by("pk")}


class CreatedConcurrently(Exception):
    """Another batch created one of this batch's new executions after this one looked: the batch
    starts again (monitoring.ingest.ingest), and finds it."""


def _insert_new_executions(executions):
    """PostgreSQL: write the batch's new executions, in their final state, with one INSERT. One
    that a concurrent batch created meanwhile is left alone (ON CONFLICT DO NOTHING) and this
    batch is done again (CreatedConcurrently), so its records apply to that row."""
    new = [e for e in executions.values() if e._insert]
    if not new:
        return
    inserted = insert_rows(Execution, new, conflict_fields=["workflow", "external_id"])
    if len(inserted) != len(new):
        raise CreatedConcurrently()
    for execution in new:
        execution._state.adding, execution._state.db = False, connection.alias


def _common(r, workflows, executions, now):
    workflow = workflows[r["workflow_id"]]
    execution = executions.get((workflow.pk, r.get("execution_id")))
    return {
        "workflow": workflow,
        "execution": execution,
        "timestamp": r.get("timestamp") or now,
        "metadata": mask_data(r.get("metadata") or {}),
    }


def _build_log(r, common, make):
    return make(
        common,
        log_level=r["log_level"],
        message=mask_text(r["message"]),
        node_id=r.get("node_id", ""),
        node_name=r.get("node_name", ""),
        step_number=r.get("step_number"),
        duration=r.get("duration"),
    )


def _alert_fields(r, common):
    """What record_alert takes for one posted alert."""
    # Masking can lengthen a short secret ("password=a" -> "password=********"); the column is 255.
    title = mask_text(r["title"])[:255]
    return {
        "fingerprint": r.get("fingerprint") or posted_fingerprint(r["workflow_id"], r["alert_type"], title),
        "alert_type": r["alert_type"],
        "severity": r["severity"],
        "title": title,
        "description": mask_text(r.get("description", "")),
        "workflow": common["workflow"],
        "execution": common["execution"],
        "metadata": common["metadata"],
        "at": common["timestamp"],
    }


def _record_alerts(team, records, workflows, executions, now):
    """Posted alerts, deduplicated: each goes through record_alert. Taken in fingerprint order, so
    concurrent batches lock open alerts in one order and cannot deadlock, and in time order
    within a fingerprint, so the earliest report is the first seen. Returns (alerts in the order
    posted, pks of those created)."""
    prepared = [(_alert_fields(r, _common(r, workflows, executions, now)), index) for index, r in enumerate(records)]
    prepared.sort(key=lambda p: (p[0]["fingerprint"], p[0]["at"], p[1]))
    in_order, created = [None] * len(records), set()
    for fields, index in prepared:
        alert, new = record_alert(team, **fields)
        in_order[index] = alert
        if new:
            created.add(alert.pk)
    return in_order, created


def _build_performance(r, common, make):
    return make(common, **{f: r.get(f) for f in PERFORMANCE_FIELDS if r.get(f) is not None})


BUILDERS = {"log": _build_log, "error": build_error, "performance": _build_performance}
MODELS = {"log": ExecutionLog, "error": WorkflowError, "performance": PerformanceMetric}


def _latest_per_execution(objs):
    # One performance record per execution: a second post for the same execution replaces the
    # first, so a retried or corrected report never counts twice.
    latest = {}
    for obj in objs:
        latest[obj.execution_id] = obj
    return list(latest.values())


def _write(kind, objs):
    if kind == "performance":
        PerformanceMetric.objects.bulk_create(
            objs,
            update_conflicts=True,
            unique_fields=["execution"],
            update_fields=["timestamp", "metadata", *PERFORMANCE_FIELDS],
        )
        # A replaced row keeps its original id: read the ids back.
        ids = dict(
            PerformanceMetric.objects.filter(execution__in=[o.execution for o in objs]).values_list("execution_id", "id")
        )
        for obj in objs:
            obj.id = ids[obj.execution_id]
        return objs
    if kind == "log" and connection.vendor == "postgresql":
        return copy_rows(ExecutionLog, objs)
    return MODELS[kind].objects.bulk_create(objs)


def _advance_state(execution, kind, obj):
    """Apply one record's effect on its execution's state; True when something changed."""
    before = (execution.state, execution.current_step, execution.step_number, execution.stopped_at,
              execution.duration_ms, execution.total_steps)
    execution.last_activity_at = max(execution.last_activity_at, obj.timestamp)
    if kind == "log":
        if execution.state in (ExecutionState.NEW, ExecutionState.QUEUED, ExecutionState.WAITING):
            execution.state = ExecutionState.RUNNING
        if obj.node_name or obj.step_number is not None:
            execution.current_step = obj.node_name or execution.current_step
            execution.step_number = obj.step_number if obj.step_number is not None else execution.step_number
    elif kind == "error":
        if execution.state not in FINAL_STATES:
            execution.state = ExecutionState.ERROR
            execution.stopped_at = obj.timestamp
            execution.duration_ms = max(0, int((obj.timestamp - execution.started_at).total_seconds() * 1000))
    elif kind == "performance":
        execution.duration_ms = obj.total_duration
        execution.stopped_at = execution.started_at + timedelta(milliseconds=obj.total_duration)
        if obj.node_count and not execution.total_steps:
            execution.total_steps = obj.node_count
        if execution.state not in FINAL_STATES:
            execution.state = ExecutionState.ERROR if obj.failed_nodes else ExecutionState.SUCCESS
    after = (execution.state, execution.current_step, execution.step_number, execution.stopped_at,
             execution.duration_ms, execution.total_steps)
    return before != after


# What an "execution" record may set on its execution, applied after the other records.
EXECUTION_FIELDS = ("state", "mode", "started_at", "stopped_at", "duration_ms", "total_steps", "current_step",
                    "step_number")


def _explicit_key(r, workflows):
    return (workflows[r["workflow_id"]].pk, r["execution_id"])


def _delete_replaced(records, workflows, executions):
    """replace=True: drop the stored logs and errors of the executions the "execution" records
    name, so the records sent now are the only ones; the errors leave their groups' counts
    (monitoring.ingest_errors). Returns ingest_errors.Dropped: the dropped errors' (type,
    severity), so the errors counter counts a re-sent error once, and their groups."""
    # An execution this batch creates has nothing stored yet.
    named = (executions[_explicit_key(r, workflows)] for r in records.get("execution", []))
    replaced = [e.pk for e in named if not e._created_now]
    if not replaced:
        return Dropped()
    ExecutionLog.objects.filter(execution_id__in=replaced).delete()
    return drop_errors(replaced)


def _apply_explicit(records, workflows, executions):
    """Set what "execution" records say; returns the pks of the executions that changed."""
    changed = set()
    retry_keys = {(workflows[r["workflow_id"]].pk, r["retry_of"]) for r in records.get("execution", [])
                  if r.get("retry_of")}
    # An execution of this batch may be retried in it (and, new, have no row yet): taken from the batch.
    retried = {key: executions[key] for key in retry_keys if key in executions}
    for wf_pk, ext in retry_keys - set(retried):
        retried[(wf_pk, ext)] = Execution.objects.filter(workflow_id=wf_pk, external_id=ext).first()
    for r in records.get("execution", []):
        execution = executions[_explicit_key(r, workflows)]
        before = {f: getattr(execution, f) for f in (*EXECUTION_FIELDS, "retry_of_id", "metadata")}
        for name in EXECUTION_FIELDS:
            if name in r:
                setattr(execution, name, r[name])
        if execution.state not in FINAL_STATES:
            execution.stopped_at, execution.duration_ms = None, None
        if r.get("retry_of"):
            target = retried.get((execution.workflow_id, r["retry_of"]))
            execution.retry_of_id = target.pk if target else None
        if "metadata" in r:
            # The source's whole view of the run: replaced, not merged, and masked like any metadata.
            execution.metadata = mask_data(r["metadata"] or {})
        if before != {f: getattr(execution, f) for f in (*EXECUTION_FIELDS, "retry_of_id", "metadata")}:
            changed.add(execution.pk)
    return changed


def _bind_log_fields(team, records):
    """The request's (or task's) later log lines name the team, and the workflow and execution when
    the batch is about one of each (their ids as the client sent them); a batch about several
    clears what an earlier batch of the same task bound."""
    workflow_ids = {r["workflow_id"] for rs in records.values() for r in rs}
    execution_ids = {r.get("execution_id") for rs in records.values() for r in rs}
    single = len(workflow_ids) == 1
    log_context.bind(
        team=team.slug,
        workflow_id=next(iter(workflow_ids)) if single else None,
        execution_id=next(iter(execution_ids)) if single and len(execution_ids) == 1 else None,
    )


def ingest(team, records, source="api", replace=False):
    """Write validated records, {kind: [validated dict, …]}, for `team`. Returns IngestResult."""
    _bind_log_fields(team, records)
    for attempt in range(3):
        try:
            return _ingest_once(team, records, source, replace)
        except CreatedConcurrently:
            # Rolled back; the next attempt finds the executions the other batch created.
            if attempt == 2:
                raise


def _ingest_once(team, records, source, replace):
    now = timezone.now()
    result = IngestResult()
    with transaction.atomic():
        workflows = ensure_workflows(team, source, records)
        executions = _find_or_reserve_executions(workflows, records, now)
        states_before = {e.pk: e.state for e in executions.values()}  # read under the rows' lock
        # Share the loaded objects so serializing the results costs no further queries.
        by_pk = {w.pk: w for w in workflows.values()}
        for w in workflows.values():
            w.team = team
        for e in executions.values():
            e.workflow = by_pk[e.workflow_id]
        # Build the records and move the executions' states in memory first, so a new execution's
        # row is written once, as the batch leaves it. Records apply in time order: the last step wins.
        built, applied = {}, []
        for kind in ("log", "error", "performance"):
            make = instance_maker(MODELS[kind])
            objs = [BUILDERS[kind](r, _common(r, workflows, executions, now), make) for r in records.get(kind, [])]
            if kind == "performance":
                objs = _latest_per_execution(objs)
            if objs:
                built[kind] = objs
                applied.extend((obj.timestamp, kind, obj) for obj in objs)
        changed = set()
        for _, kind, obj in sorted(applied, key=lambda t: t[0]):
            if _advance_state(obj.execution, kind, obj):
                changed.add(obj.execution.pk)
        changed |= _apply_explicit(records, workflows, executions)
        _insert_new_executions(executions)
        dropped = _delete_replaced(records, workflows, executions) if replace else Dropped()
        filed = file_errors(team, built.get("error", []), dropped)
        for kind, objs in built.items():
            result.created[kind] = _write(kind, objs)
        if records.get("alert"):
            # Alerts do not move their execution's state.
            result.created["alert"], result.new_alerts = _record_alerts(team, records["alert"], workflows,
                                                                        executions, now)
        touched = [e for e in executions.values() if e.pk in changed or e._created_now]
        _save_executions([e for e in touched if not e._insert])
        result.executions = {e.pk: e for e in executions.values()}
        _count(team, records, workflows, executions, result, states_before, changed, dropped.kinds)
        _publish(team, result, touched, group_events(team, filed, by_pk))
    return result


# What ingest may change on an execution.
SAVED_EXECUTION_FIELDS = ["state", "current_step", "step_number", "stopped_at", "duration_ms", "total_steps",
                          "last_activity_at", "mode", "started_at", "retry_of", "metadata"]


def _save_executions(touched):
    """One UPDATE for the touched executions. A batch is most often about one execution: then a
    plain UPDATE of its row, which costs Django a quarter of bulk_update's CASE expressions; many
    (the n8n mirror's batches) one UPDATE … FROM (VALUES …) on PostgreSQL."""
    if len(touched) == 1:
        execution = touched[0]
        attnames = [Execution._meta.get_field(name).attname for name in SAVED_EXECUTION_FIELDS]
        Execution.objects.filter(pk=execution.pk).update(**{a: getattr(execution, a) for a in attnames})
    elif touched and connection.vendor == "postgresql":
        update_rows(Execution, touched, SAVED_EXECUTION_FIELDS)
    elif touched:
        Execution.objects.bulk_update(touched, SAVED_EXECUTION_FIELDS)


def _count(team, records, workflows, executions, result, states_before, changed, replaced_errors):
    """Metrics of this ingest, counted after commit: executions that became final now (each once),
    new errors, records by kind and outcome."""
    execution_metrics.finished(team, [(e, states_before[e.pk]) for e in executions.values() if e.pk in changed])
    execution_metrics.errors_recorded(team, result.created.get("error", []), replaced_errors)
    explicit = [executions[_explicit_key(r, workflows)] for r in records.get("execution", [])]
    ingestion_metrics.after_ingest(team, result, explicit, changed)


def _publish(team, result, touched, group_events=()):
    # Every alerting kind reads an execution event's state at once, so these are built now — by
    # the representer, the serializer's dict at a tenth of its per-object cost.
    execution_shape = representer("execution")
    out = [
        events.MonitoringEvent("execution", "created" if e._created_now else "updated", team.pk, e.workflow_id,
                               execution_shape(e))
        for e in touched
    ]
    for kind, objs in result.created.items():
        if kind == "alert":
            continue
        # A batch makes an event per record, and listeners read few of them (the fan-out at most
        # a few hundred): each one's data is built when first read, with the REST shape.
        shape = representer(kind)
        out.extend(events.LazyMonitoringEvent(kind, "created", team.pk, o.workflow_id, shape, o) for o in objs)
    # One event per alert, as it stands at the end of the batch: created if this batch created
    # it, else updated (a repeat counted).
    latest = {}
    for alert in result.created.get("alert", []):
        if alert.pk not in latest or alert.occurrences > latest[alert.pk].occurrences:
            latest[alert.pk] = alert
    alerts = list(latest.values())
    out.extend(events.MonitoringEvent("alert", "created" if a.pk in result.new_alerts else "updated", team.pk,
                                      a.workflow_id, data)
               for a, data in zip(alerts, serialize_many("alert", alerts)))
    out.extend(group_events)  # "error_group" created / regressed, after the errors they count
    events.publish(out)
