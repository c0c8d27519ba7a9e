"""Records of the service itself: idempotent replies and retention runs."""

from django.db import models
from django.utils import timezone


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
