"""Retention: delete records older than their type's retention, without holding ingest up.

Logs (PostgreSQL): the daily partitions wholly past the cut-off are dropped (archived first when
FLOWTOWER_ARCHIVE_DIR is set), a catalogue change however many rows they hold; what is left — the
expired part of the partition that straddles the cut-off and old rows in the default partition —
goes in chunks. Other tables, and logs on SQLite: chunks of expired primary keys, each its own
short transaction, so locks stay small while millions of rows go. A chunk deletes the rows that
point at it as their foreign keys' on_delete says (cascade or set null), set-wise in SQL, instead of
Django's collector loading every row and sending a signal each (docs/partitions.md).

Used by the Celery beat task, `manage.py prune` and the REST API's DELETE. Each run is recorded as
a RetentionRun (visible in admin); the audit trail records the run, not each of millions of rows.
"""

from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from . import partitions
from .models import Alert, Execution, ExecutionLog, IdempotencyKey, PerformanceMetric, RetentionRun, WorkflowError

# Children before parents, so deleting old executions finds little left to cascade.
TARGETS = [
    ("logs", ExecutionLog, "timestamp"),
    ("errors", WorkflowError, "timestamp"),
    ("performance", PerformanceMetric, "timestamp"),
    ("alerts", Alert, "timestamp"),
    ("executions", Execution, "started_at"),
]
# An alert first seen long ago may still be firing: it goes only once it was also last seen before
# the cut-off, so a deduplicated alert that keeps repeating is never deleted and re-created as new.
# (timestamp <= last_seen_at, so the timestamp index still bounds the scan.)
ALSO_EXPIRED = {"alerts": "last_seen_at"}


def retention_days(uniform_days=None):
    if uniform_days is not None:
        return {name: uniform_days for name, _, _ in TARGETS}
    return {name: settings.FLOWTOWER_RETENTION_DAYS[name] for name, _, _ in TARGETS}


def cutoffs(days, now=None):
    now = now or timezone.now()
    return {name: now - timedelta(days=days[name]) for name, _, _ in TARGETS}


def expired(days, now=None):
    """name -> queryset of the rows past retention."""
    out = {}
    cut = cutoffs(days, now)
    for name, model, field in TARGETS:
        conditions = {f"{field}__lt": cut[name]}
        if name in ALSO_EXPIRED:
            conditions[f"{ALSO_EXPIRED[name]}__lt"] = cut[name]
        out[name] = model.objects.filter(**conditions)
    return out


def _dependents(model):
    """The relations pointing at `model` (from any app, many-to-many link tables included), as
    Django's collector finds them."""
    return [f for f in model._meta.get_fields(include_hidden=True)
            if f.auto_created and not f.concrete and (f.one_to_one or f.one_to_many)]


def _keys(pks, using):
    """What `field__in=` gets: on PostgreSQL one array parameter (thousands of placeholders cost
    Django and psycopg more than the statement itself), elsewhere the list."""
    if connections[using].vendor == "postgresql":
        return RawSQL("SELECT unnest(%s)", [list(pks)])
    return pks


def delete_rows(model, pks, using=DEFAULT_DB_ALIAS):
    """Delete the rows `pks` of `model` and apply each foreign key's on_delete to the rows pointing
    at them, set-wise: CASCADE deletes them (recursively), SET_NULL clears the key, DO_NOTHING
    leaves them. Sends no signals and loads no objects (QuerySet._raw_delete is Django's own
    fast-delete path). Any other on_delete (PROTECT, RESTRICT, SET_DEFAULT) is refused."""
    keys = _keys(pks, using)
    for relation in _dependents(model):
        field = relation.field
        pointing = relation.related_model._base_manager.using(using).filter(**{f"{field.name}__in": keys})
        if relation.on_delete is models.CASCADE:
            if _dependents(relation.related_model):
                delete_rows(relation.related_model, list(pointing.values_list("pk", flat=True)), using)
            else:
                pointing._raw_delete(using)
        elif relation.on_delete is models.SET_NULL:
            pointing.update(**{field.name: None})
        elif relation.on_delete is not models.DO_NOTHING:
            raise ValueError(f"retention cannot apply {relation.on_delete.__name__} of {field}")
    return model._base_manager.using(using).filter(pk__in=keys)._raw_delete(using)


def _without_waiting_for_disk(using):
    """A retention chunk's commit need not wait for its WAL to reach the disk (PostgreSQL's
    synchronous_commit off, for this transaction only): a crash can lose at most the last chunks'
    deletions, which the next run repeats; the database stays consistent."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as c:
            c.execute("SET LOCAL synchronous_commit = off")


def _delete_in_chunks(queryset, chunk, on_chunk):
    """Delete the queryset's rows chunk by chunk, walking its primary keys upwards (each chunk's
    lookup starts where the last one ended, not over the rows already deleted)."""
    deleted = 0
    after = None
    keys = queryset.order_by("pk")
    while True:
        page = keys if after is None else keys.filter(pk__gt=after)
        pks = list(page.values_list("pk", flat=True)[:chunk])
        if not pks:
            return deleted
        with transaction.atomic(using=queryset.db):
            _without_waiting_for_disk(queryset.db)
            delete_rows(queryset.model, pks, queryset.db)
        after = pks[-1]
        deleted += len(pks)
        on_chunk(len(pks))


def _delete_logs_in_chunks(cutoff, chunk, on_chunk):
    """Expired logs left after the partition drops (or every one on SQLite), by chunks of the
    timestamp index; the time bound on the DELETE too limits it to the partitions that can hold
    them."""
    deleted = 0
    expired_logs = ExecutionLog.objects.filter(timestamp__lt=cutoff).order_by()
    while True:
        pks = list(expired_logs.values_list("pk", flat=True)[:chunk])
        if not pks:
            return deleted
        with transaction.atomic(using=expired_logs.db):
            _without_waiting_for_disk(expired_logs.db)
            rows = ExecutionLog.objects.filter(pk__in=_keys(pks, expired_logs.db), timestamp__lt=cutoff)
            rows._raw_delete(expired_logs.db)
        deleted += len(pks)
        on_chunk(len(pks))


def _prune_logs(cutoff, chunk, on_chunk):
    dropped = partitions.drop_expired(cutoff, archive_dir=partitions.archive_dir(), on_partition=on_chunk)
    return dropped + _delete_logs_in_chunks(cutoff, chunk, on_chunk)


def prune(days=None, dry_run=False, trigger="task", actor="", chunk=None, progress=None):
    """Delete (or with dry_run, count) expired rows. `progress(name, total)` is called before each
    type and returns a callable taking the size of each deleted chunk (a dropped partition counts
    as one). Returns the RetentionRun."""
    days = days or retention_days()
    chunk = chunk or settings.FLOWTOWER_PRUNE_CHUNK
    run = RetentionRun.objects.create(trigger=trigger, actor=actor, retention_days=days, dry_run=dry_run)
    now = timezone.now()
    cut = cutoffs(days, now)
    counts = {}
    if not dry_run:
        partitions.ensure_partitions(now=now)  # the days ahead, should the daily task have missed one
    for name, queryset in expired(days, now).items():
        if dry_run:
            counts[name] = queryset.count()
            continue
        on_chunk = progress(name, queryset.count()) if progress else (lambda n: None)
        if name == "logs":
            counts[name] = _prune_logs(cut[name], chunk, on_chunk)
        else:
            counts[name] = _delete_in_chunks(queryset, chunk, on_chunk)
    if not dry_run:
        ttl = timezone.now() - timedelta(hours=settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS)
        IdempotencyKey.objects.filter(created_at__lt=ttl).delete()
    run.deleted = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["deleted", "finished_at"])
    return run
