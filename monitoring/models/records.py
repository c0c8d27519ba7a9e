"""Workflows, their executions, and the records an execution leaves: logs, errors, performance."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Team


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
    # The time one successful run saves people (as n8n's "time saved per execution"): set by the
    # team in the UI or API, or mirrored from n8n's workflow setting. None: not estimated.
    minutes_saved_per_run = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
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
    # The group it was filed under at ingestion (monitoring.error_groups); None only for errors
    # stored before grouping existed and not yet backfilled.
    group = models.ForeignKey("ErrorGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="errors",
                              db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["group", "-timestamp"], name="error_group_ts"),
            models.Index(fields=["workflow", "-timestamp"], name="error_wf_ts"),
            models.Index(fields=["-timestamp"], name="error_ts"),
            models.Index(
                fields=["workflow", "-timestamp"], name="error_unresolved", condition=Q(resolved=False)
            ),
        ]
        ordering = ["-timestamp"]

    def __str__(self):
        return f"{self.error_type}/{self.severity}: {self.error_message[:60]}"


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
