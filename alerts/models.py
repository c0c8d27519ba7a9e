"""The alerting engine's records: rules and their evaluation state, notification channels and
routes, silences, and the deliveries made. The alerts themselves are monitoring.Alert (written
through monitoring.services.raise_alert / clear_alert), so every source shares one record."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from monitoring.models import Alert, AlertSeverity, Team, Workflow


class RuleKind(models.TextChoices):
    EXECUTION_FAILED = "execution_failed", "Execution failed"
    ERROR_RATE = "error_rate", "Error rate"
    SLOW = "slow", "Slow execution"
    STUCK = "stuck", "Stuck execution"
    NO_EXECUTIONS = "no_executions", "No executions (dead-man switch)"
    ERROR_SEVERITY = "error_severity", "Error severity"
    RESOURCE = "resource", "Resource usage"
    DEACTIVATED = "deactivated", "Workflow deactivated"
    REGRESSION = "regression", "Error regression"
    ANOMALY = "anomaly", "Anomaly (unusual duration or failure rate)"


class AlertRule(models.Model):
    """A condition over a team's workflows that raises an alert. Which workflows: all of the team's
    (no workflow, no tag), one workflow, or those carrying a tag. What the kind needs (thresholds,
    windows) is in `params`, validated by the kind's module in alerts/rules/."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules")
    tag = models.CharField(max_length=100, blank=True, help_text="Only workflows with this tag")
    params = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    for_seconds = models.PositiveIntegerField(
        default=0, help_text="How long the condition must hold before the alert fires (pending until then)"
    )
    auto_resolve = models.BooleanField(default=True, help_text="Resolve the alert when the condition clears")
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(
        "Channel", blank=True, related_name="rules", help_text="Notify these too, whatever the routes say"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__slug", "name"]
        indexes = [models.Index(fields=["kind", "enabled"], name="rule_kind_enabled")]

    def __str__(self):
        return self.name


class RuleState(models.Model):
    """Where one rule stands for one subject (usually a workflow): since when its condition holds
    (pending, for the rule's "for" duration) and whether it has fired. Window rules read and write
    these on every pass; an absent row means the condition does not hold."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    fingerprint = models.CharField(max_length=128)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    pending_since = models.DateTimeField()
    firing = models.BooleanField(default=False)
    last_value = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "fingerprint"], name="rule_state_unique")]


class Channel(models.Model):
    """Where notifications go: one of the kinds in alerts/channels/. Settings that are not secret are
    in `config`; secrets (webhook URLs, keys, bot tokens, SMTP passwords) are in `secrets`,
    encrypted at rest (monitoring.crypto) and never shown back in full."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32)
    config = models.JSONField(default=dict, blank=True)
    secrets = models.TextField(blank=True, help_text="Encrypted JSON object")
    enabled = models.BooleanField(default=True)
    # Consecutive failed deliveries (after their retries); reset by a success. The Channels page
    # marks a channel failing from settings.FLOWTOWER_CHANNEL_FAILING_AFTER on.
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__slug", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="channel_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class Route(models.Model):
    """Which of a team's alerts go to which channel: by severity, and optionally only for some
    rules or workflow tags; how often an unresolved alert is notified again; and where a critical
    alert nobody acknowledged is escalated."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routes")
    name = models.CharField(max_length=100)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="routes")
    severities = models.JSONField(default=list, blank=True, help_text="Empty: every severity")
    rules = models.ManyToManyField(AlertRule, blank=True, related_name="routes", help_text="Empty: every rule")
    tags = models.JSONField(default=list, blank=True, help_text="Empty: every workflow")
    repeat_interval_minutes = models.PositiveIntegerField(default=240)
    escalation_channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalation_routes"
    )
    escalate_after_minutes = models.PositiveIntegerField(default=30)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__slug", "name"]

    def __str__(self):
        return self.name


class Silence(models.Model):
    """Mutes notifications of the alerts it matches while it is in effect: once between starts_at
    and ends_at, or, when recurring, every week on `weekdays` from `daily_start` for
    `duration_minutes` in `time_zone` (a maintenance window), between starts_at and ends_at.
    Matched alerts are still recorded and shown, marked silenced."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="silences")
    # {"workflow": external id, "tag": str, "alert_type": str, "severity": str, "rule": rule id,
    #  "labels": {name: value}}; every given matcher must match; validated by alerts.silences.
    matchers = models.JSONField(default=dict)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    # Recurring windows: ISO weekdays (1 = Monday … 7 = Sunday); empty means one-off.
    weekdays = models.JSONField(default=list, blank=True)
    daily_start = models.TimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin")
    comment = models.TextField(blank=True)
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["team", "ends_at"], name="silence_team_ends")]

    def __str__(self):
        return self.comment[:60] or f"silence {self.pk}"


class NotificationEvent(models.TextChoices):
    FIRING = "firing", "Firing"
    REPEAT = "repeat", "Repeat"
    ESCALATION = "escalation", "Escalation"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    TEST = "test", "Test"


class AlertNotification(models.Model):
    """The alerting engine's memory of one alert: when it was first and last notified, escalated
    and resolution-notified, so repeats and escalation follow the routes and nothing is sent twice."""

    alert = models.OneToOneField(Alert, on_delete=models.CASCADE, related_name="notification", primary_key=True)
    first_notified_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_notified_at = models.DateTimeField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True, help_text="Channel ids notified of the firing alert")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One attempt to send one notification to one channel. Retries are new rows with a higher
    `attempt`, so every attempt is on record."""

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True, help_text="Bounded excerpt of the answer")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["alert", "-created_at"], name="delivery_alert"),
            models.Index(fields=["channel", "-created_at"], name="delivery_channel"),
        ]

    def __str__(self):
        return f"{self.event} → {self.channel} #{self.attempt}: {self.status}"
