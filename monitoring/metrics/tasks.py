"""Celery: task runs, failures and retries and their duration, counted through Celery's signals in
the process that runs the task (a worker, or the web process when tasks run eagerly); and the
broker's queue length, read from Redis at scrape time (LLEN of each queue's list), where the
truth is."""

import logging
import time

from celery import current_app
from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_ready
from django.conf import settings
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from .registry import multiprocess_dir

logger = logging.getLogger(__name__)

TASKS = Counter("flowtower_celery_tasks_total", "Celery task runs, by task and outcome.", ["task", "outcome"])
TASK_DURATION = Histogram(
    "flowtower_celery_task_duration_seconds", "Duration of Celery task runs.", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
# Celery's final states of one run -> the outcome label.
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

_started = {}  # task id -> monotonic start, between prerun and postrun


def _prerun(task_id=None, **kwargs):
    _started[task_id] = time.monotonic()


def _postrun(task_id=None, task=None, state=None, **kwargs):
    started = _started.pop(task_id, None)
    outcome = OUTCOMES.get(state)
    name = getattr(task, "name", None) or "unknown"
    if outcome:
        TASKS.labels(name, outcome).inc()
    if started is not None:
        TASK_DURATION.labels(name).observe(time.monotonic() - started)


def _worker_ready(sender=None, **kwargs):
    from .server import start_worker_server

    start_worker_server(settings.FLOWTOWER_WORKER_METRICS_PORT, settings.FLOWTOWER_WORKER_METRICS_ADDRESS)


def _child_exited(pid=None, **kwargs):
    # A prefork child that exits leaves its files; its live gauges must stop counting.
    if multiprocess_dir() and pid:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def connect():
    task_prerun.connect(_prerun, dispatch_uid="flowtower.metrics.task_prerun", weak=False)
    task_postrun.connect(_postrun, dispatch_uid="flowtower.metrics.task_postrun", weak=False)
    worker_ready.connect(_worker_ready, dispatch_uid="flowtower.metrics.worker_ready", weak=False)
    worker_process_shutdown.connect(_child_exited, dispatch_uid="flowtower.metrics.child_exited", weak=False)


class QueueLengthCollector:
    """flowtower_celery_queue_length{queue}: messages waiting in the Redis broker's queues."""

    _client = None

    def queues(self):
        conf = current_app.conf
        names = {conf.task_default_queue}
        names.update(q.name for q in (conf.task_queues or ()))
        return sorted(names)

    def client(self):
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1,
                                                socket_connect_timeout=1)
        return self._client

    def collect(self):
        if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            return  # the demo's in-memory broker: no queue to read
        gauge = GaugeMetricFamily("flowtower_celery_queue_length",
                                  "Messages waiting in the broker's queue, read from Redis at scrape time.",
                                  labels=["queue"])
        client = self.client()
        for queue in self.queues():
            gauge.add_metric([queue], client.llen(queue))
        yield gauge
