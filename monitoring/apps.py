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
