from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self):
        from . import audit  # noqa: F401  registers models with the audit trail
