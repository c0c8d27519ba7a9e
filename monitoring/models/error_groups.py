"""Error groups: the occurrences of one error in one workflow, counted as one issue (as Sentry and
GlitchTip group events). Each WorkflowError carries the group it was filed under at ingestion; a
group outlives its occurrences (retention keeps the counts, as it keeps the rollups)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Team
from .records import Workflow


class ErrorGroupStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"  # a new occurrence reopens it as regressed
    IGNORED = "ignored", "Ignored"  # occurrences still counted; nothing is raised


class ErrorGroup(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="error_groups", db_index=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="error_groups", db_index=False)
    # sha256 hex of what identifies the error (monitoring.fingerprints), or of the client's own
    # `fingerprint`; unique per workflow, so a group never spans workflows or teams.
    fingerprint = models.CharField(max_length=64)
    title = models.CharField(max_length=255)  # the first occurrence's message, first line
    node_name = models.CharField(max_length=255, blank=True)
    error_type = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    occurrences = models.BigIntegerField(default=0)
    affected_executions = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ErrorGroupStatus.choices, default=ErrorGroupStatus.OPEN)
    # Set when an occurrence arrived while the group was resolved (it reopened); cleared when the
    # group is resolved or ignored again.
    regressed = models.BooleanField(default=False)
    regressed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True)
    resolution_notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "fingerprint"], name="error_group_unique_fingerprint"),
        ]
        indexes = [
            models.Index(fields=["team", "-last_seen"], name="error_group_team_seen"),
            models.Index(fields=["team", "status", "-last_seen"], name="error_group_team_status"),
        ]
        ordering = ["-last_seen"]

    def __str__(self):
        return self.title
