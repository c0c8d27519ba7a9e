"""Hourly and daily sums of executions and errors, kept by PostgreSQL triggers (docs/rollups.md)."""

from django.db import models
from django.db.models.functions import Coalesce

from .accounts import Team
from .records import Workflow


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
