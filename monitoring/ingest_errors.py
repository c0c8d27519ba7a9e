"""The errors of an ingest batch (monitoring.ingest): building them, dropping a re-sent
execution's earlier ones, and filing each under its error group (docs/error-groups.md).

Grouping keeps the ingest path's rule that a batch costs a fixed number of statements, whatever
its size. On PostgreSQL, for all of a batch's groups together:

1. one SELECT … FOR UPDATE of the groups that exist already (in id order, so concurrent batches
   lock them in one order): their status, and which of the batch's executions already hold an
   occurrence of them;
2. one INSERT … SELECT FROM unnest(…) ON CONFLICT (workflow, fingerprint) DO UPDATE … RETURNING,
   which creates the new groups and counts the batch into the others.

SQLite (the demo) does the same per group with the ORM.

Counts: occurrences += the batch's occurrences; last_seen is the latest, first_seen the earliest;
affected_executions counts an execution once, however many occurrences of the group it holds. An
occurrence reopens a resolved group (open, regressed, regressed_at = its time) when its execution
held no occurrence of the group before: a re-sent execution (replace=True) reopens nothing, and its
re-sent errors of a resolved group are stored resolved. An ignored group is counted and stays
ignored.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from rest_framework.fields import DateTimeField

from . import events
from .fingerprints import error_fingerprint, group_title
from .masking import mask_text
from .models import ErrorGroup, ErrorGroupStatus, WorkflowError
from .serializers import serialize


def build_error(r, common, make):
    """An unsaved WorkflowError from a validated record, masked, with its group key in `_fingerprint`."""
    obj = make(
        common,
        error_type=r["error_type"],
        error_code=r.get("error_code", ""),
        error_message=mask_text(r["error_message"]),
        error_stack=mask_text(r.get("error_stack", "")),
        node_name=r.get("node_name", ""),
        severity=r["severity"],
    )
    obj._fingerprint = error_fingerprint(obj.workflow_id, obj.node_name, obj.error_type, obj.error_code,
                                         obj.error_message, r.get("fingerprint"))
    return obj


@dataclass
class Dropped:
    """What dropping a re-sent execution's errors removed."""

    kinds: list = field(default_factory=list)  # (error type, severity) per dropped error, for the metrics
    held: set = field(default_factory=set)  # (workflow pk, fingerprint, execution pk) they were filed under


_DROP_SQL = """
WITH d AS (
    DELETE FROM monitoring_workflowerror WHERE execution_id = ANY(%s)
    RETURNING group_id, execution_id, error_type, severity
), per_group AS (
    SELECT group_id, count(*) AS n, count(DISTINCT execution_id) AS executions FROM d
    WHERE group_id IS NOT NULL GROUP BY group_id
), counted AS (
    UPDATE monitoring_errorgroup g
    SET occurrences = GREATEST(g.occurrences - p.n, 0),
        affected_executions = GREATEST(g.affected_executions - p.executions, 0)
    FROM per_group p WHERE g.id = p.group_id
    RETURNING g.id, g.workflow_id, g.fingerprint
)
SELECT d.error_type, d.severity, d.execution_id, c.workflow_id, c.fingerprint
FROM d LEFT JOIN counted c ON c.id = d.group_id
"""


def drop_errors(execution_pks):
    """replace=True: delete the stored errors of these executions and take them out of their
    groups' counts (the batch counts them again as it files the re-sent ones). One statement on
    PostgreSQL."""
    dropped = Dropped()
    if not execution_pks:
        return dropped
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DROP_SQL, [list(execution_pks)])
            rows = cursor.fetchall()
    else:
        rows = _drop_errors_orm(execution_pks)
    for error_type, severity, execution_pk, workflow_pk, fingerprint in rows:
        dropped.kinds.append((error_type, severity))
        if fingerprint is not None:
            dropped.held.add((workflow_pk, fingerprint, execution_pk))
    return dropped


def _drop_errors_orm(execution_pks):
    errors = WorkflowError.objects.filter(execution_id__in=execution_pks)
    rows = list(errors.values_list("error_type", "severity", "execution_id", "group_id"))
    errors.delete()
    per_group = defaultdict(list)
    for _, _, execution_pk, group_pk in rows:
        if group_pk is not None:
            per_group[group_pk].append(execution_pk)
    groups = {g.pk: g for g in ErrorGroup.objects.filter(pk__in=per_group)}
    for group_pk, executions in per_group.items():
        group = groups[group_pk]
        group.occurrences = max(group.occurrences - len(executions), 0)
        group.affected_executions = max(group.affected_executions - len(set(executions)), 0)
        group.save(update_fields=["occurrences", "affected_executions"])
    return [(t, s, e, groups[g].workflow_id if g else None, groups[g].fingerprint if g else None)
            for t, s, e, g in rows]


@dataclass
class _Batch:
    """One group's share of the batch."""

    workflow_pk: int
    fingerprint: str
    errors: list
    prior: dict | None = None  # the stored group before this batch (status, resolved_at, held executions)
    new_executions: int = 0
    reopened_by: object = None  # the occurrence that reopens a resolved group

    @property
    def first(self):
        return min(self.errors, key=lambda e: e.timestamp)


@dataclass
class Filed:
    """What filing a batch's errors did to their groups."""

    groups: list = field(default_factory=list)  # ErrorGroup, as stored after the batch
    created: set = field(default_factory=set)  # pks of the groups this batch created
    # pk -> (occurrence that reopened it, previous resolved_at, previous resolved_by)
    regressed: dict = field(default_factory=dict)


def file_errors(team, errors, dropped=None):
    """Give each unsaved error its group (error.group_id), creating or counting the groups.
    `dropped`: what drop_errors removed for this batch. Returns Filed."""
    if not errors:
        return Filed()
    batches = {}
    for error in errors:
        key = (error.workflow_id, error._fingerprint)
        batches.setdefault(key, _Batch(*key, errors=[])).errors.append(error)
    ordered = [batches[key] for key in sorted(batches)]
    if connection.vendor == "postgresql":
        _read_prior(ordered)
    else:
        _read_prior_orm(ordered)
    held = dropped.held if dropped else set()
    for batch in ordered:
        _decide(batch, held)
    rows = _upsert(team, ordered) if connection.vendor == "postgresql" else _upsert_orm(team, ordered)
    return _filed(ordered, rows)


# Which of the batch's executions hold an occurrence of each group is read from the executions'
# side (their few errors, by the execution index), never from the groups' (a group may have
# millions of occurrences): the CTE is materialized with that one predicate.
_PRIOR_SQL = """
WITH held AS MATERIALIZED (
    SELECT DISTINCT e.group_id, e.execution_id FROM monitoring_workflowerror e
    WHERE e.execution_id = ANY(%s) AND e.group_id IS NOT NULL
)
SELECT g.id, g.workflow_id, g.fingerprint, g.status, g.resolved_at, g.resolved_by,
       ARRAY(SELECT h.execution_id FROM held h WHERE h.group_id = g.id)
FROM monitoring_errorgroup g
WHERE (g.workflow_id, g.fingerprint) IN (SELECT * FROM unnest(%s::bigint[], %s::varchar[]))
ORDER BY g.id FOR UPDATE OF g
"""


def _read_prior(ordered):
    """PostgreSQL: lock the batch's existing groups and read what the batch's counting needs."""
    execution_pks = sorted({e.execution_id for b in ordered for e in b.errors})
    by_key = {(b.workflow_pk, b.fingerprint): b for b in ordered}
    with connection.cursor() as cursor:
        cursor.execute(_PRIOR_SQL, [execution_pks, [b.workflow_pk for b in ordered], [b.fingerprint for b in ordered]])
        for pk, workflow_pk, fingerprint, status, resolved_at, resolved_by, held in cursor.fetchall():
            by_key[(workflow_pk, fingerprint)].prior = {"pk": pk, "status": status, "resolved_at": resolved_at,
                                                        "resolved_by": resolved_by, "held": set(held)}


def _read_prior_orm(ordered):
    for batch in ordered:
        group = ErrorGroup.objects.filter(workflow_id=batch.workflow_pk, fingerprint=batch.fingerprint).first()
        if group is not None:
            held = set(group.errors.filter(execution_id__in={e.execution_id for e in batch.errors})
                       .values_list("execution_id", flat=True))
            batch.prior = {"pk": group.pk, "status": group.status, "resolved_at": group.resolved_at,
                           "resolved_by": group.resolved_by, "held": held}


def _decide(batch, dropped_held):
    """How many executions the batch adds to the group, and whether (and by which occurrence) it
    reopens it: an occurrence from an execution that held none of the group before."""
    held = batch.prior["held"] if batch.prior else set()
    batch.new_executions = len({e.execution_id for e in batch.errors} - held)
    if batch.prior and batch.prior["status"] == ErrorGroupStatus.RESOLVED:
        fresh = [e for e in batch.errors if e.execution_id not in held
                 and (batch.workflow_pk, batch.fingerprint, e.execution_id) not in dropped_held]
        if fresh:
            batch.reopened_by = min(fresh, key=lambda e: e.timestamp)


_UPSERT_SQL = """
INSERT INTO monitoring_errorgroup AS g (team_id, workflow_id, fingerprint, title, node_name, error_type, error_code,
    first_seen, last_seen, occurrences, affected_executions, status, regressed, regressed_at, resolved_by,
    resolution_notes)
SELECT %s, r.workflow_id, r.fingerprint, r.title, r.node_name, r.error_type, r.error_code, r.first_seen, r.last_seen,
       r.occurrences, r.executions, 'open', r.regressed, r.regressed_at, '', ''
FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[],
            %s::timestamptz[], %s::timestamptz[], %s::bigint[], %s::bigint[], %s::boolean[], %s::timestamptz[])
     AS r(workflow_id, fingerprint, title, node_name, error_type, error_code, first_seen, last_seen, occurrences,
          executions, regressed, regressed_at)
ON CONFLICT (workflow_id, fingerprint) DO UPDATE SET
    occurrences = g.occurrences + EXCLUDED.occurrences,
    affected_executions = g.affected_executions + EXCLUDED.affected_executions,
    first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(g.last_seen, EXCLUDED.last_seen),
    status = CASE WHEN EXCLUDED.regressed THEN 'open' ELSE g.status END,
    regressed = g.regressed OR EXCLUDED.regressed,
    regressed_at = CASE WHEN EXCLUDED.regressed THEN EXCLUDED.regressed_at ELSE g.regressed_at END,
    resolved_at = CASE WHEN EXCLUDED.regressed THEN NULL ELSE g.resolved_at END,
    resolved_by = CASE WHEN EXCLUDED.regressed THEN '' ELSE g.resolved_by END
RETURNING {columns}, (g.xmax = 0)
"""


def _upsert(team, ordered):
    """PostgreSQL: one statement creates or counts every group of the batch. A reopening is only
    ever decided for a group read (and locked) by _read_prior, so it always meets the stored row.
    Returns [(ErrorGroup, created)] in the batch's order."""
    columns = [f.column for f in ErrorGroup._meta.concrete_fields]
    firsts = [b.first for b in ordered]
    params = [
        team.pk,
        [b.workflow_pk for b in ordered],
        [b.fingerprint for b in ordered],
        [group_title(f.error_message) for f in firsts],
        [f.node_name[:255] for f in firsts],
        [f.error_type for f in firsts],
        [f.error_code for f in firsts],
        [f.timestamp for f in firsts],
        [max(e.timestamp for e in b.errors) for b in ordered],
        [len(b.errors) for b in ordered],
        [b.new_executions for b in ordered],
        [b.reopened_by is not None for b in ordered],
        [b.reopened_by.timestamp if b.reopened_by is not None else None for b in ordered],
    ]
    sql = _UPSERT_SQL.format(columns=", ".join(f"g.{connection.ops.quote_name(c)}" for c in columns))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    attnames = [f.attname for f in ErrorGroup._meta.concrete_fields]
    stored = {}
    for row in rows:
        group = ErrorGroup.from_db(connection.alias, attnames, row[:-1])
        stored[(group.workflow_id, group.fingerprint)] = (group, row[-1])
    return [stored[(b.workflow_pk, b.fingerprint)] for b in ordered]


def _upsert_orm(team, ordered):
    """SQLite: the same counting, one group at a time."""
    out = []
    for batch in ordered:
        first, last = batch.first, max(e.timestamp for e in batch.errors)
        if batch.prior is None:
            group = ErrorGroup.objects.create(
                team=team, workflow_id=batch.workflow_pk, fingerprint=batch.fingerprint,
                title=group_title(first.error_message), node_name=first.node_name[:255], error_type=first.error_type,
                error_code=first.error_code, first_seen=first.timestamp, last_seen=last,
                occurrences=len(batch.errors), affected_executions=batch.new_executions)
            out.append((group, True))
            continue
        group = ErrorGroup.objects.get(pk=batch.prior["pk"])
        group.occurrences += len(batch.errors)
        group.affected_executions += batch.new_executions
        group.first_seen, group.last_seen = min(group.first_seen, first.timestamp), max(group.last_seen, last)
        if batch.reopened_by is not None:
            group.status, group.regressed, group.regressed_at = ErrorGroupStatus.OPEN, True, batch.reopened_by.timestamp
            group.resolved_at, group.resolved_by = None, ""
        group.save()
        out.append((group, False))
    return out


def _filed(ordered, rows):
    """Point each error at its group; a re-sent error of a group that stays resolved is stored
    resolved, as resolving the group resolved it."""
    filed = Filed()
    for batch, (group, created) in zip(ordered, rows):
        filed.groups.append(group)
        if created:
            filed.created.add(group.pk)
        if batch.reopened_by is not None:
            filed.regressed[group.pk] = (batch.reopened_by, batch.prior["resolved_at"], batch.prior["resolved_by"])
        still_resolved = group.status == ErrorGroupStatus.RESOLVED
        for error in batch.errors:
            error.group_id = group.pk
            if still_resolved:
                error.resolved, error.resolved_at, error.resolved_by = True, group.resolved_at, group.resolved_by
    return filed


_TIME = DateTimeField()  # times as the REST shape writes them


def group_events(team, filed, workflows_by_pk):
    """The "error_group" events of a batch: "created" per new group, "regressed" per group this
    batch reopened (with the reopening occurrence and the previous resolution time)."""
    out = []
    for group in filed.groups:
        group.workflow = workflows_by_pk[group.workflow_id]
        if group.pk in filed.created:
            out.append(events.MonitoringEvent("error_group", "created", team.pk, group.workflow_id,
                                              serialize("error_group", group)))
        if group.pk in filed.regressed:
            error, previous, previous_by = filed.regressed[group.pk]
            data = dict(serialize("error_group", group), error_id=str(error.pk), execution_pk=error.execution_id,
                        previous_resolved_at=_TIME.to_representation(previous) if previous else None,
                        previous_resolved_by=previous_by)
            out.append(events.MonitoringEvent("error_group", "regressed", team.pk, group.workflow_id, data))
    return out


BACKFILL_CHUNK = 2000


def group_stored_errors(chunk=BACKFILL_CHUNK, progress=None):
    """File the stored errors that have no group yet (errors stored before grouping existed), as
    ingestion would have, oldest first, one workflow and `chunk` errors per transaction. A group
    whose occurrences are all resolved starts resolved. Returns how many errors were filed.
    `progress(n)` is called after each chunk."""
    from django.db import transaction

    from .bulk_write import update_rows
    from .models import Workflow

    filed_count = 0
    pending = WorkflowError.objects.filter(group__isnull=True)
    for workflow in Workflow.objects.filter(pk__in=pending.values("workflow_id")).select_related("team"):
        touched, after = set(), None
        while True:
            with transaction.atomic():
                errors = list(_next_chunk(pending.filter(workflow=workflow), after, chunk))
                if not errors:
                    break
                for error in errors:
                    error._fingerprint = error_fingerprint(workflow.pk, error.node_name, error.error_type,
                                                           error.error_code, error.error_message)
                filed = file_errors(workflow.team, errors)
                touched.update(g.pk for g in filed.groups)
                if connection.vendor == "postgresql":
                    update_rows(WorkflowError, errors, ["group"])
                else:
                    WorkflowError.objects.bulk_update(errors, ["group"])
            after = (errors[-1].timestamp, errors[-1].pk)
            filed_count += len(errors)
            if progress:
                progress(len(errors))
        _resolve_fully_resolved(touched)
    return filed_count


def _next_chunk(errors, after, chunk):
    """The next `chunk` errors in (timestamp, id) order after `after`: each chunk's lookup starts
    where the last one ended, not over the errors already filed."""
    from django.db.models import Q

    if after is not None:
        errors = errors.filter(Q(timestamp__gt=after[0]) | Q(timestamp=after[0], pk__gt=after[1]))
    return errors.order_by("timestamp", "id")[:chunk]


def _resolve_fully_resolved(group_pks):
    """Backfilled groups with no open occurrence start resolved, as of their last resolution."""
    from django.db.models import Exists, Max, OuterRef

    open_errors = WorkflowError.objects.filter(group_id=OuterRef("pk"), resolved=False)
    done = (ErrorGroup.objects.filter(pk__in=group_pks, status=ErrorGroupStatus.OPEN)
            .exclude(Exists(open_errors)).annotate(last=Max("errors__resolved_at")))
    for group in done:
        last = group.errors.filter(resolved_at=group.last).values_list("resolved_by", flat=True).first() or ""
        ErrorGroup.objects.filter(pk=group.pk).update(status=ErrorGroupStatus.RESOLVED, resolved_at=group.last,
                                                      resolved_by=last)
