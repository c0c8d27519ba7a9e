"""Alerts: raised by rules, the n8n mirror, Alertmanager or a client; acknowledged and resolved by people."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Team
from .records import Execution, Workflow


class AlertType(models.TextChoices):
    PERFORMANCE = "performance", "Performance"
    ERROR = "error", "Error"
    TIMEOUT = "timeout", "Timeout"
    RESOURCE = "resource", "Resource"
    DEPENDENCY = "dependency", "Dependency"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertSource(models.TextChoices):
    POSTED = "posted", "Posted"  # by a service, through the REST API
    RULE = "rule", "Alert rule"  # raised by one of the team's alert rules
    ALERTMANAGER = "alertmanager", "Alertmanager"  # received from Prometheus' Alertmanager
    INTEGRATION = "integration", "Integration"  # a connected source (an n8n instance) cannot be read


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """Something that needs a person's attention. One open alert per team and fingerprint: a
    repeat raises `occurrences` and `last_seen_at` instead of adding a row (monitoring.services
    .raise_alert). `timestamp` is when it was first seen. The workflow is optional: an
    infrastructure alert from Alertmanager belongs to a team but to no workflow."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alerts", db_index=False)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts",
                                 db_index=False)
    execution = models.ForeignKey(Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                                  db_constraint=False)  # no database constraint: see ExecutionLog.execution
    alert_type = models.CharField(max_length=16, choices=AlertType.choices)
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now, help_text="First seen")
    # Deduplication: what makes two reports "the same alert", how often and when last it was seen.
    fingerprint = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=16, choices=AlertSource.choices, default=AlertSource.POSTED)
    occurrences = models.PositiveIntegerField(default=1)
    last_seen_at = models.DateTimeField(default=timezone.now)
    labels = models.JSONField(default=dict, blank=True)
    # Set by the alerting engine: recorded and shown, but not notified.
    silenced = models.BooleanField(default=False)
    inhibited = models.BooleanField(default=False)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.CharField(max_length=255, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True)
    resolution_notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            # The database, not a read-then-write, keeps one open alert per fingerprint, so two
            # workers raising the same alert at once cannot both create it.
            models.UniqueConstraint(
                fields=["team", "fingerprint"],
                condition=Q(resolved=False) & ~Q(fingerprint=""),
                name="alert_one_open_per_fingerprint",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "-timestamp"], name="alert_team_ts"),
            models.Index(fields=["workflow", "-timestamp"], name="alert_wf_ts"),
            models.Index(fields=["-timestamp"], name="alert_ts"),
            models.Index(
                fields=["workflow", "-timestamp"], name="alert_unacknowledged", condition=Q(acknowledged=False)
            ),
            models.Index(fields=["workflow", "-timestamp"], name="alert_unresolved", condition=Q(resolved=False)),
            models.Index(fields=["team", "-timestamp"], name="alert_team_open", condition=Q(resolved=False)),
        ]
        ordering = ["-timestamp"]

    def __str__(self):
        return f"[{self.severity}] {self.title}"

    @property
    def status(self):
        return AlertStatus.RESOLVED if self.resolved else AlertStatus.FIRING

    @property
    def first_seen_at(self):
        return self.timestamp
