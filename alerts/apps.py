from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """The alerting engine (rules, channels, notifications). It depends on monitoring/, never the
    reverse: it hears of new data through monitoring.events."""

    name = "alerts"
