from django.apps import AppConfig
from django.db.models.signals import post_save, pre_delete


class AlertsConfig(AppConfig):
    """The alerting engine (rules, channels, notifications). It depends on monitoring/, never the
    reverse: it hears of new data through monitoring.events."""

    name = "alerts"

    def ready(self):
        from monitoring.events import monitoring_events_committed
        from monitoring.models import Team

        from . import evaluation, evaluation_events, team_defaults
        from . import notify
        from .models import AlertRule

        # Receivers: one line each.
        monitoring_events_committed.connect(evaluation_events.on_events_committed, dispatch_uid="alerts.rules")
        post_save.connect(evaluation.on_rule_saved, sender=AlertRule, dispatch_uid="alerts.rule_saved")
        pre_delete.connect(evaluation.on_rule_deleting, sender=AlertRule, dispatch_uid="alerts.rule_deleting")
        post_save.connect(team_defaults.on_team_saved, sender=Team, dispatch_uid="alerts.team_defaults")
        notify.connect_receivers()  # alert events → notifications; silence changes → marks
        from . import metrics  # noqa: F401  defines the deliveries counter in every process
