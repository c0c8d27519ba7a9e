"""Celery tasks: the beat runs it every few seconds; it syncs each enabled instance whose own
interval has passed. Thin wrapper over n8n_mirror.sync."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from monitoring import dispatch

from . import health
from .models import N8nInstance
from .sync import sync_executions, sync_instance

log = logging.getLogger(__name__)


def _claim(instance, now):
    """Take the instance for this run unless another worker took it since it was read: a
    conditional UPDATE, so two overlapping beats never sync one instance twice at once."""
    return N8nInstance.objects.filter(pk=instance.pk, last_run_at=instance.last_run_at).update(last_run_at=now) == 1


def sync_due(now=None):
    """Sync every due instance; returns {instance name: executions written or the error}."""
    now = now or timezone.now()
    outcome = {}
    for instance in N8nInstance.objects.filter(enabled=True).select_related("team"):
        if not instance.is_due(now) or not _claim(instance, now):
            continue
        try:
            result = sync_instance(instance)
            outcome[str(instance)] = result.error or result.executions
        except Exception as exc:  # noqa: BLE001 - one broken instance must not stop the others
            log.exception("n8n instance %s: sync failed", instance)
            message = f"Flowtower could not write what it read: {type(exc).__name__}: {exc}"[:2000]
            outcome[str(instance)] = message
            try:
                # A failed pass like a read error: recorded, and alerted once it lasts.
                health.record_failure(instance, message)
            except Exception:  # noqa: BLE001 - nor must recording it
                log.exception("n8n instance %s: recording the failure failed", instance)
    return outcome


@shared_task(name="n8n_mirror.tasks.sync_due_instances")
def sync_due_instances():
    return sync_due()


@shared_task(name="n8n_mirror.tasks.sync_finished_executions")
def sync_finished_executions(instance_id, execution_ids):
    """Mirror the executions n8n's external hook reported finished (n8n_mirror.sync.sync_executions)."""
    instance = N8nInstance.objects.select_related("team").filter(pk=instance_id, enabled=True).first()
    if instance is None:
        return "no such enabled instance"
    result = sync_executions(instance, execution_ids)
    return result.error or result.executions


def sync_soon(instance, execution_ids):
    """Sync these executions once the current transaction commits (at once outside one); with the
    broker unreachable, here: it is one execution, read in well under a second, and its failure
    alert must not wait for the next poll."""
    ids = list(execution_ids)
    transaction.on_commit(lambda: dispatch.enqueue(sync_finished_executions, (instance.pk, ids)))
