"""Retention: delete records older than their type's retention, in bounded chunks.

Never one huge DELETE: each chunk is its own short transaction, so ingest keeps its latency and
locks stay small while millions of rows go. Used by the Celery beat task, `manage.py prune` and
the REST API's DELETE. Each run is recorded as a RetentionRun (visible in admin).
"""

from datetime import timedelta

from auditlog.context import disable_auditlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

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


def expired(days, now=None):
    """name -> queryset of the rows past retention."""
    now = now or timezone.now()
    out = {}
    for name, model, field in TARGETS:
        cutoff = now - timedelta(days=days[name])
        conditions = {f"{field}__lt": cutoff}
        if name in ALSO_EXPIRED:
            conditions[f"{ALSO_EXPIRED[name]}__lt"] = cutoff
        out[name] = model.objects.filter(**conditions)
    return out


def _delete_in_chunks(model, queryset, chunk, on_chunk):
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        # The audit trail records the run (RetentionRun), not each of millions of rows.
        with transaction.atomic(), disable_auditlog():
            model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        on_chunk(len(ids))


def prune(days=None, dry_run=False, trigger="task", actor="", chunk=None, progress=None):
    """Delete (or with dry_run, count) expired rows. `progress(name, total)` is called before each
    type and returns a callable taking the size of each deleted chunk. Returns the RetentionRun."""
    days = days or retention_days()
    chunk = chunk or settings.FLOWTOWER_PRUNE_CHUNK
    run = RetentionRun.objects.create(trigger=trigger, actor=actor, retention_days=days, dry_run=dry_run)
    counts = {}
    for name, queryset in expired(days).items():
        model = queryset.model
        if dry_run:
            counts[name] = queryset.count()
            continue
        on_chunk = progress(name, queryset.count()) if progress else (lambda n: None)
        counts[name] = _delete_in_chunks(model, queryset, chunk, on_chunk)
    if not dry_run:
        ttl = timezone.now() - timedelta(hours=settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS)
        IdempotencyKey.objects.filter(created_at__lt=ttl).delete()
    run.deleted = counts
    run.finished_at = timezone.now()
    run.save(update_fields=["deleted", "finished_at"])
    return run
