"""Celery tasks: thin wrappers over plain functions."""

from celery import shared_task

from . import retention


@shared_task(name="monitoring.tasks.prune_old_data")
def prune_old_data():
    """Delete data past its retention (settings FLOWTOWER_RETENTION_*_DAYS), in chunks."""
    return retention.prune(trigger="task").deleted
