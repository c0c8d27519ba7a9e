"""Flowtower's data model: teams and access, workflows and executions, and the four monitoring
records (execution logs, errors, performance metrics, alerts).

Every record reaches its team through its workflow, so scoping a query to a team is one join.
The four record tables use UUID keys and carry their own `timestamp`, so they can be range
partitioned by time later (see docs/monitoring.md) without changing what clients see.

Indexes: a foreign key gets no index of its own (db_index=False) where a composite index or unique
constraint already starts with it — (workflow, -timestamp), (execution, timestamp), (team, source,
external_id)… PostgreSQL uses the composite's leading column for the same lookups (filters, the
joins of cascading deletes), and every extra index costs each insert and the disk. Foreign keys
with no such composite (an error's or alert's execution, retry_of) keep theirs.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer (read)"
    MEMBER = "member", "Member (read, acknowledge, resolve)"
    ADMIN = "admin", "Admin (also manages workflows, tokens, rules, channels)"


# Higher number, more rights; used to compare roles.
ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}


class Team(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name or self.slug


class Membership(models.Model):
    # No index of its own: membership_unique_team_user starts with team (see the module's docstring).
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")]
        ordering = ["team__slug", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"


TOKEN_PREFIX = "ft_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast unsalted hash is enough to make a leaked
    # database useless while keeping the lookup a single indexed equality.
    return hashlib.sha256(raw.encode()).hexdigest()


class ServiceToken(models.Model):
    """A team's API key for services. Only its hash is stored; the raw value is shown once."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to recognise a token")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__slug", "name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, team, name, created_by=None):
        """Create a token; returns (token, raw value). The raw value is never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            team=team, name=name, prefix=raw[:10], token_hash=hash_token(raw), created_by=created_by
        )
        return token, raw

    @property
    def is_active(self):
        return self.revoked_at is None


class Workflow(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="workflows", db_index=False)
    # Where the workflow's data comes from: "api" for services posting to the REST API, or the
    # n8n mirror's "n8n:<instance id>"; the external id is unique per team and source.
    source = models.CharField(max_length=64, default="api")
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    tags = models.JSONField(default=list, blank=True)
    # How often the workflow is expected to run, when it runs on a schedule (the n8n mirror reads
    # it from a Schedule Trigger or Cron node; any source may set it). None: not scheduled/unknown.
    expected_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "source", "external_id"], name="workflow_unique_external_id")
        ]
        ordering = ["team__slug", "external_id"]

    def __str__(self):
        return self.name or self.external_id


class ExecutionState(models.TextChoices):
    NEW = "new", "New"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    CANCELED = "canceled", "Canceled"
    CRASHED = "crashed", "Crashed"


FINAL_STATES = {ExecutionState.SUCCESS, ExecutionState.ERROR, ExecutionState.CANCELED, ExecutionState.CRASHED}
FAILED_STATES = {ExecutionState.ERROR, ExecutionState.CRASHED}


class Execution(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="executions", db_index=False)
    external_id = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=ExecutionState.choices, default=ExecutionState.RUNNING)
    mode = models.CharField(max_length=32, blank=True, help_text="How it was started: webhook, trigger, manual, cli…")
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries",
                                 db_constraint=False)  # no database constraint: see ExecutionLog.execution
    # What live status shows while it runs.
    current_step = models.CharField(max_length=255, blank=True)
    step_number = models.PositiveIntegerField(null=True, blank=True)
    total_steps = models.PositiveIntegerField(null=True, blank=True, help_text="Expected number of steps, if known")
    last_activity_at = models.DateTimeField(default=timezone.now)
    # What a source knows about the run besides its steps (the n8n mirror: {"n8n_custom_data": …}).
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "external_id"], name="execution_unique_external_id")
        ]
        indexes = [
            models.Index(fields=["workflow", "-started_at"], name="execution_wf_started"),
            models.Index(fields=["state", "-started_at"], name="execution_state_started"),
            # The partial hours at the edges of a period, across all of a team's workflows
            # (monitoring.rollups reads whole hours and days from the rollups, the rest here).
            models.Index(fields=["-started_at"], name="execution_started"),
        ]
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.workflow} / {self.external_id}"

    @property
    def is_final(self):
        return self.state in FINAL_STATES


class LogLevel(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARN = "warn", "Warning"
    ERROR = "error", "Error"
    FATAL = "fatal", "Fatal"


class ExecutionLog(models.Model):
    # On PostgreSQL the table is partitioned by day of `timestamp` (migration 0009, monitoring/partitions.py)
    # and its primary key is (id, timestamp), as a partitioned table's must include the partition key.
    # Django keeps `id` as the model's key: it never checks the database's, and ids are random UUIDs.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="logs", db_index=False)
    # No database constraint on this key, nor on the other keys to executions (errors, performance records,
    # alerts, retries): PostgreSQL checks each of them for every deleted execution (here: a probe of every
    # partition), which made most of retention's time; retention deletes or clears what points at the
    # executions it deletes itself, Django's cascade does for the ORM (docs/partitions.md).
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="logs", db_index=False,
                                  db_constraint=False)
    log_level = models.CharField(max_length=8, choices=LogLevel.choices)
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now)
    node_id = models.CharField(max_length=255, blank=True)
    node_name = models.CharField(max_length=255, blank=True)
    step_number = models.PositiveIntegerField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="milliseconds")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workflow", "-timestamp"], name="log_wf_ts"),
            models.Index(fields=["execution", "timestamp"], name="log_exec_ts"),
            models.Index(fields=["-timestamp"], name="log_ts"),
        ]
        ordering = ["-timestamp"]

    def __str__(self):
        return f"[{self.log_level}] {self.message[:60]}"


class ErrorType(models.TextChoices):
    VALIDATION = "validation", "Validation"
    NETWORK = "network", "Network"
    TIMEOUT = "timeout", "Timeout"
    PERMISSION = "permission", "Permission"
    DATA = "data", "Data"
    SYSTEM = "system", "System"
    UNKNOWN = "unknown", "Unknown"


class ErrorSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class WorkflowError(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="errors", db_index=False)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="errors",
                                  db_constraint=False)  # no database constraint: see ExecutionLog.execution
    error_type = models.CharField(max_length=16, choices=ErrorType.choices, default=ErrorType.UNKNOWN)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField()
    error_stack = models.TextField(blank=True)
    node_name = models.CharField(max_length=255, blank=True)
    severity = models.CharField(max_length=16, choices=ErrorSeverity.choices, default=ErrorSeverity.MEDIUM)
    metadata = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(default=timezone.now)
    resolved = models.BooleanField(default=False)
    resolution_notes = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workflow", "-timestamp"], name="error_wf_ts"),
            models.Index(fields=["-timestamp"], name="error_ts"),
            models.Index(
                fields=["workflow", "-timestamp"], name="error_unresolved", condition=Q(resolved=False)
            ),
        ]
        ordering = ["-timestamp"]

    def __str__(self):
        return f"{self.error_type}/{self.severity}: {self.error_message[:60]}"


class RollupLevel(models.IntegerChoices):
    """What a rollup row sums: one workflow or a whole team, over an hour or a UTC day (teams also
    over 6 hours)."""

    WORKFLOW_HOUR = 1, "Workflow, hour"
    WORKFLOW_DAY = 2, "Workflow, day"
    TEAM_HOUR = 3, "Team, hour"
    TEAM_DAY = 4, "Team, day"
    TEAM_QUARTER_DAY = 5, "Team, 6 hours"  # the 7-day overview chart's buckets


def _rollup_key():
    # Team rows have no workflow: COALESCE makes (level, team, workflow, bucket) unique with it
    # missing too, and ON CONFLICT names this expression (monitoring.rollups, migration 0010).
    return (models.F("level"), models.F("team"), Coalesce("workflow", 0), models.F("bucket_start"))


class ExecutionRollup(models.Model):
    """Executions that started in a bucket (an hour or a UTC day, of one workflow or one team),
    split by duration_bucket: a log-spaced histogram bin of duration_ms (-1: no duration yet), so
    that percentiles can be estimated from the rows (monitoring.rollups; docs/rollups.md).
    Maintained by PostgreSQL triggers on the executions table; never deleted by retention."""

    level = models.PositiveSmallIntegerField(choices=RollupLevel.choices)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    workflow = models.ForeignKey(Workflow, null=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket_start = models.DateTimeField()
    duration_bucket = models.SmallIntegerField()
    total = models.IntegerField(default=0)
    success = models.IntegerField(default=0)
    error = models.IntegerField(default=0)
    crashed = models.IntegerField(default=0)
    canceled = models.IntegerField(default=0)
    duration_sum = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(*_rollup_key(), models.F("duration_bucket"), name="execution_rollup_key"),
        ]


class ErrorRollup(models.Model):
    """Errors recorded in a bucket (an hour or a UTC day, of one workflow or one team): all, the
    critical ones, and the critical and high ones still unresolved. Maintained by PostgreSQL
    triggers on the errors table; never deleted by retention."""

    level = models.PositiveSmallIntegerField(choices=RollupLevel.choices)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    workflow = models.ForeignKey(Workflow, null=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket_start = models.DateTimeField()
    total = models.IntegerField(default=0)
    critical = models.IntegerField(default=0)
    open_critical = models.IntegerField(default=0)
    open_high = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(*_rollup_key(), name="error_rollup_key")]


class PerformanceMetric(models.Model):
    """One per execution: posting again for the same execution replaces it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="performance_metrics",
                                 db_index=False)
    execution = models.OneToOneField(Execution, on_delete=models.CASCADE, related_name="performance",
                                     db_constraint=False)  # no database constraint: see ExecutionLog.execution
    timestamp = models.DateTimeField(default=timezone.now)
    total_duration = models.PositiveIntegerField(help_text="milliseconds")
    node_count = models.PositiveIntegerField(default=0)
    successful_nodes = models.PositiveIntegerField(default=0)
    failed_nodes = models.PositiveIntegerField(default=0)
    memory_peak = models.BigIntegerField(null=True, blank=True, help_text="bytes")
    memory_average = models.BigIntegerField(null=True, blank=True, help_text="bytes")
    cpu_peak = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, help_text="percent")
    cpu_average = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True, help_text="percent")
    network_requests = models.PositiveIntegerField(null=True, blank=True)
    network_data_transferred = models.BigIntegerField(null=True, blank=True, help_text="bytes")
    throughput = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True, help_text="items/s")
    bottleneck_nodes = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workflow", "-timestamp"], name="perf_wf_ts")]
        ordering = ["-timestamp"]

    def __str__(self):
        return f"{self.execution} {self.total_duration} ms"


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


class IdempotencyKey(models.Model):
    """The first answer to a POST that carried an Idempotency-Key, replayed to its retries."""

    principal = models.CharField(max_length=64, help_text="token:<id> or user:<id>")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_unique_key")]


class RetentionRun(models.Model):
    """One pass of retention (beat task, `manage.py prune` or the DELETE endpoint), kept for the record."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=32)  # task, command, api
    actor = models.CharField(max_length=255, blank=True)
    retention_days = models.JSONField(default=dict)
    deleted = models.JSONField(default=dict)
    dry_run = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"retention {self.started_at:%Y-%m-%d %H:%M} ({self.trigger})"
