"""Celery tasks: thin wrappers over plain functions."""

from celery import shared_task
from celery.signals import beat_init

from . import partitions, retention


@shared_task(name="monitoring.tasks.prune_old_data")
def prune_old_data():
    """Delete data past its retention (settings FLOWTOWER_RETENTION_*_DAYS), in chunks."""
    return retention.prune(trigger="task").deleted


@shared_task(name="monitoring.tasks.create_log_partitions")
def create_log_partitions():
    """Create the execution-log partitions of the days ahead (beat: daily, and when beat starts)."""
    return partitions.ensure_partitions()


@beat_init.connect(dispatch_uid="flowtower.partitions_when_beat_starts", weak=False)
def _create_log_partitions_when_beat_starts(sender=None, **kwargs):
    # A beat that was down for days would otherwise leave the coming days to the default partition
    # until the next daily run.
    create_log_partitions.delay()
