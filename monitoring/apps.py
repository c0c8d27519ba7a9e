from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self):
        from . import audit  # registers models with the audit trail

        audit.connect()
        from . import crypto  # noqa: F401  registers the check that stored secrets still decrypt
        from .events import monitoring_events_committed
        from .live.fanout import on_events_committed

        monitoring_events_committed.connect(on_events_committed, dispatch_uid="flowtower.websocket_fanout")
        from .metrics import alerts as alert_metrics, tasks as task_metrics
        from .metrics.registry import register_scrape_collector

        register_scrape_collector("alerts", alert_metrics.AlertsCollector())  # open alerts, at scrape time
        register_scrape_collector("celery_queues", task_metrics.QueueLengthCollector(), database=False)
        task_metrics.connect()  # Celery task runs; the worker's metrics port on worker_ready
        from .api import token_cache

        token_cache.connect()  # a saved or deleted token or team leaves the token cache at once
