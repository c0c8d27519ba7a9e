"""One sync pass of one n8n instance: its workflows, then the executions it still has to re-read
(new, running or waiting when last read), then the executions after its cursor, batch by batch.

Everything is written through monitoring's one ingestion path (monitoring.ingest) with the
execution's own state and times and replace=True, so re-reading an execution rewrites it and
never duplicates its logs, errors or performance record. Each batch and the instance's cursor
are committed together: a crash half-way loses nothing and the next pass resumes after the last
committed batch. A read error is recorded on the instance (n8n_mirror.health, which alerts the team
when it lasts), never raised out of the pass."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from monitoring import services, time_saved
from monitoring.ingest import ensure_workflows, ingest
from monitoring.models import Execution, Workflow
from monitoring.outbound import AddressRefused, hardened_session

from . import health
from .mapping import map_execution_records, map_workflow, node_runs
from .models import N8nInstance
from .readers import N8nReadError
from .readers.api import TIMEOUT_S as API_TIMEOUT_S
from .readers.api import ApiReader
from .readers.database import DatabaseReader

log = logging.getLogger(__name__)

# Executions per ingest call (and per database page). A call's fixed costs — its transaction,
# the instance row's lock, a dozen statements whatever its size — are shared by more executions
# the bigger it is; 500 keeps a batch (a few thousand log, error and performance rows) one
# statement's worth and a crash's redo small (docs/benchmarks.md, "n8n mirror and alert evaluation").
BATCH_SIZE = 500
ALL = 10**9  # no limit
USER_AGENT = "Flowtower-n8n-mirror/1.0"
DATA_ELSEWHERE_NOTE = ("n8n keeps the data of some executions outside its database; they are mirrored without "
                       "node logs. Give the instance an API URL and key to read them through n8n's API.")


@dataclass
class SyncResult:
    workflows: int = 0
    executions: int = 0
    error: str = ""
    batches: list = field(default_factory=list)  # sizes of the batches written

    @property
    def ok(self):
        return not self.error


def outbound_get():
    """The HTTP getter for n8n's API: the API URL is user input, so the call obeys monitoring's
    outbound-address rule (no internal addresses unless the install allows them), like the
    alerting channels' URLs. A refused address is a read error the instance shows."""
    session = hardened_session(API_TIMEOUT_S, USER_AGENT)

    def get(url, **kwargs):
        try:
            return session.get(url, **kwargs)
        except AddressRefused as refused:
            raise N8nReadError(refused.explain()) from None

    return get


def reader_for(instance, get=None):
    """The reader an instance is configured for; `get` is the HTTP getter for the API kind
    (default: outbound_get())."""
    secrets = instance.get_secrets()
    if instance.kind == N8nInstance.Kind.DATABASE:
        return DatabaseReader(secrets.get("database_url", ""), instance.table_prefix)
    return ApiReader(instance.api_url, secrets.get("api_key", ""), get=get or outbound_get())


def _api_fallback(instance, get=None):
    """For a database instance with API credentials too: the API reader that fetches executions
    whose data n8n keeps outside its database. None without credentials."""
    key = instance.get_secrets().get("api_key")
    if instance.kind == N8nInstance.Kind.DATABASE and instance.api_url and key:
        return ApiReader(instance.api_url, key, get=get or outbound_get())
    return None


def sync_workflows(instance, n8n_workflows):
    """Register n8n's workflows and bring name, active, tags and schedule up to date. A change
    goes through monitoring.services.update_workflow, so a workflow n8n deactivated is a
    "workflow" event the alerting engine hears; a workflow seen for the first time takes n8n's
    values quietly (it did not change, it is new)."""
    mapped = {w.id: map_workflow(w) for w in n8n_workflows}
    existing = set(Workflow.objects.filter(team=instance.team, source=instance.source, external_id__in=mapped)
                   .values_list("external_id", flat=True))
    records = {"workflow": [{"workflow_id": m["workflow_id"], "workflow_name": m["name"]} for m in mapped.values()]}
    workflows = ensure_workflows(instance.team, instance.source, records)
    for external_id, m in mapped.items():
        wanted = {"name": m["name"], "active": m["active"], "tags": m["tags"],
                  "expected_interval_minutes": m["schedule_minutes"]}
        workflow = workflows[external_id]
        if external_id in existing:
            services.update_workflow(workflow, wanted)
        else:
            Workflow.objects.filter(pk=workflow.pk).update(**wanted)
        # n8n's time saved setting when it has one; without, what the team set in Flowtower stays.
        if m["minutes_saved_per_run"] is not None:
            time_saved.set_estimate(workflow, m["minutes_saved_per_run"])
    return len(mapped)


def _records(executions, workflows_by_id):
    records = defaultdict(list)
    for execution in executions:
        mapped = map_execution_records(execution, workflows_by_id.get(execution.workflow_id))
        records["execution"].append(mapped["execution"])
        for kind, plural in (("log", "logs"), ("error", "errors"), ("performance", "performance")):
            records[kind].extend(mapped[plural])
    return dict(records)


def _changed_since_mirrored(instance, executions):
    """Of re-read unfinished executions, those n8n moved on since the last pass (another state or
    more node runs): a run waiting for hours is not rewritten, nor its logs sent to live pages
    again, every 30 seconds."""
    stored = {external_id: (state, logs) for external_id, state, logs in
              Execution.objects.filter(workflow__team=instance.team, workflow__source=instance.source,
                                       external_id__in=[e.id for e in executions])
              .annotate(log_count=Count("logs")).values_list("external_id", "state", "log_count")}
    return [e for e in executions if stored.get(e.id) != (e.status, len(node_runs(e)))]


def _fill_missing_data(instance, executions, fallback):
    """Executions whose data n8n keeps elsewhere: read through the API when possible, else
    mirrored without it. Returns (executions, ids of those still without data)."""
    missing = []
    result = []
    for execution in executions:
        if not execution.data_available and execution.stored_at not in (None, "db") and fallback is not None:
            execution = fallback.get_execution(execution.id) or execution
        if not execution.data_available and execution.stored_at not in (None, "db"):
            missing.append(execution.id)
        result.append(execution)
    return result, missing


def _new_batches(reader, after, batch_size):
    """The executions after the cursor, oldest first, in batches. A database answers "after id
    X" directly, one batch per query. n8n's API lists newest first and cannot start after an id,
    so every call pages down to the cursor: it is read once and cut into batches here."""
    if isinstance(reader, ApiReader):
        everything = reader.list_executions(after_id=after, limit=ALL)
        for start in range(0, len(everything), batch_size):
            yield everything[start:start + batch_size]
        return
    while batch := reader.list_executions(after_id=after, limit=batch_size):
        yield batch
        after = batch[-1].id


def _count_mirrored(instance):
    # Counted, not added up: a full re-read or a resumed batch must not count twice.
    return Execution.objects.filter(workflow__team=instance.team, workflow__source=instance.source).count()


def write_batch(instance, executions, workflows_by_id, *, advance_cursor, read=None, recount=True):
    """Write one batch and move the instance's state in the same transaction. `advance_cursor`:
    the batch comes from after the cursor (else it is a re-read of unfinished executions).
    `read`: the whole batch as read, when only some of it (`executions`) needs writing; it moves
    the cursor and the list of unfinished executions. `recount`: count the executions mirrored
    now; a pass writing many batches counts once at its end instead (a count per batch reads
    every mirrored execution again: quadratic over a backfill)."""
    read = executions if read is None else read
    with transaction.atomic():
        locked = N8nInstance.objects.select_for_update().get(pk=instance.pk)
        if executions:
            ingest(instance.team, _records(executions, workflows_by_id), source=instance.source, replace=True)
        unfinished = set(locked.unfinished_ids)
        for execution in read:
            unfinished.discard(execution.id)
            if execution.is_unfinished:
                unfinished.add(execution.id)
        locked.unfinished_ids = sorted(unfinished, key=int)
        if advance_cursor:
            newest = max(int(e.id) for e in read)
            locked.cursor = str(max(newest, int(locked.cursor or 0)))
            starts = [e.started_at for e in read if e.started_at]
            if starts and (locked.newest_execution_at is None or max(starts) > locked.newest_execution_at):
                locked.newest_execution_at = max(starts)
        if recount:
            locked.executions_mirrored = _count_mirrored(instance)
        locked.save(update_fields=["unfinished_ids", "cursor", "executions_mirrored", "newest_execution_at",
                                   "updated_at"])
    for name in ("unfinished_ids", "cursor", "executions_mirrored", "newest_execution_at"):
        setattr(instance, name, getattr(locked, name))


def _record_outcome(instance, error="", missing=0, recount=False):
    """The pass's time and counters here (`recount`: the executions mirrored, after batches
    written without counting); its error, or its success, through n8n_mirror.health, which tells
    the team when the instance keeps failing and when it syncs again."""
    now = timezone.now()
    changes = {"last_run_at": now}
    if recount:
        changes.update(executions_mirrored=_count_mirrored(instance))
    if not error:
        changes.update(last_success_at=now)
    if missing:
        changes.update(data_unavailable_count=instance.data_unavailable_count + missing,
                       data_unavailable_note=DATA_ELSEWHERE_NOTE)
    N8nInstance.objects.filter(pk=instance.pk).update(**changes)
    for name, value in changes.items():
        setattr(instance, name, value)
    if error:
        health.record_failure(instance, error, at=now)
    else:
        health.record_success(instance, at=now)


def sync_instance(instance, *, full=False, batch_size=BATCH_SIZE, get=None, progress=None):
    """One pass over `instance`. full=True reads every execution again from the first (a
    backfill, or a repair; idempotent). `progress(n)` is called after each batch of n."""
    result = SyncResult()
    reader, fallback = reader_for(instance, get), _api_fallback(instance, get)
    missing = 0
    try:
        n8n_workflows = reader.list_workflows()
        result.workflows = sync_workflows(instance, n8n_workflows)
        workflows_by_id = {w.id: w for w in n8n_workflows}
        if instance.unfinished_ids and not full:
            again = reader.list_executions(ids=list(instance.unfinished_ids), limit=len(instance.unfinished_ids))
            again, _ = _fill_missing_data(instance, again, fallback)  # counted when first read
            # Those n8n no longer has (pruned) stay as last mirrored and are not asked for again.
            gone = set(instance.unfinished_ids) - {e.id for e in again}
            if gone:
                N8nInstance.objects.filter(pk=instance.pk).update(
                    unfinished_ids=[i for i in instance.unfinished_ids if i not in gone])
                instance.unfinished_ids = [i for i in instance.unfinished_ids if i not in gone]
            again = _changed_since_mirrored(instance, again)
            if again:
                write_batch(instance, again, workflows_by_id, advance_cursor=False)
                result.executions += len(again)
        cursor = 0 if not full else int(instance.cursor or 0)
        for batch in _new_batches(reader, None if full else (instance.cursor or None), batch_size):
            batch, without_data = _fill_missing_data(instance, batch, fallback)
            # Counted once per execution: not again when --full reads it a second time.
            missing += sum(1 for execution_id in without_data if int(execution_id) > cursor)
            # Executions the external hook already mirrored as they are now are not written again
            # (their failure would reach the alerting engine twice); --full rewrites everything.
            changed = batch if full else _changed_since_mirrored(instance, batch)
            write_batch(instance, changed, workflows_by_id, advance_cursor=True, read=batch, recount=False)
            result.executions += len(batch)
            result.batches.append(len(batch))
            if progress:
                progress(len(batch))
    except N8nReadError as exc:
        result.error = str(exc)
        log.warning("n8n instance %s: %s", instance, exc)
    # Counted once per pass, also when a read error stopped it half-way (what committed is mirrored).
    _record_outcome(instance, result.error, missing, recount=bool(result.batches))
    return result


def sync_executions(instance, execution_ids, *, get=None):
    """Mirror just these executions of `instance` now (n8n's external hook says they finished),
    through the same re-read path as unfinished executions: the workflows first (the execution's
    may be new), then the executions, written unless already mirrored as they are. The cursor
    does not move (executions before these may still be unread: the poll reads them and skips
    these), nor does the instance's last run (the poll keeps its rhythm). A read error is logged
    and returned, not recorded: the poll, the safety net, records its own."""
    result = SyncResult()
    ids = sorted({str(i) for i in execution_ids}, key=int)
    reader, fallback = reader_for(instance, get), _api_fallback(instance, get)
    try:
        n8n_workflows = reader.list_workflows()
        result.workflows = sync_workflows(instance, n8n_workflows)
        executions = reader.list_executions(ids=ids, limit=len(ids))
        executions, _ = _fill_missing_data(instance, executions, fallback)  # counted by the poll
        changed = _changed_since_mirrored(instance, executions)
        if changed:
            write_batch(instance, changed, {w.id: w for w in n8n_workflows}, advance_cursor=False)
        result.executions = len(changed)
    except N8nReadError as exc:
        result.error = str(exc)
        log.warning("n8n instance %s, executions %s: %s", instance, ids, exc)
    return result
