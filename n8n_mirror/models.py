"""An n8n instance a team mirrors, how it is read, and where the mirror stands (its cursor, the
executions still to re-read, its last success and error)."""

from django.db import models
from django.utils import timezone

from monitoring.crypto import decrypt_json, encrypt_json
from monitoring.models import ServiceToken, Team

SECRET_NAMES = ("api_key", "database_url")


class N8nInstance(models.Model):
    class Kind(models.TextChoices):
        API = "api", "Public REST API"
        DATABASE = "database", "Database (read-only)"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="n8n_instances")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.API)
    api_url = models.URLField(blank=True, help_text="n8n's address, e.g. https://n8n.example.com")
    # {"api_key": …, "database_url": …}, encrypted (monitoring.crypto); never shown back in full.
    secrets = models.TextField(blank=True, help_text="Encrypted JSON object")
    table_prefix = models.CharField(max_length=64, blank=True, help_text="n8n's DB_TABLE_PREFIX")
    enabled = models.BooleanField(default=True)
    interval_seconds = models.PositiveIntegerField(default=30)
    # The one service token n8n's external hook may use for this instance (only its hash is stored).
    hook_token = models.ForeignKey(ServiceToken, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Token of n8n's external hook")

    # Where the mirror stands.
    cursor = models.CharField(max_length=32, blank=True, help_text="Id of the newest execution mirrored")
    unfinished_ids = models.JSONField(default=list, blank=True, help_text="Executions to re-read until they finish")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed passes (None while syncing works): an alert is raised
    # once it has lasted long enough (n8n_mirror.health).
    failing_since = models.DateTimeField(null=True, blank=True)
    executions_mirrored = models.PositiveBigIntegerField(default=0)
    newest_execution_at = models.DateTimeField(null=True, blank=True)
    data_unavailable_count = models.PositiveIntegerField(
        default=0, help_text="Executions mirrored without node data (n8n keeps it outside its database)")
    data_unavailable_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="n8n_instance_unique_name")]
        ordering = ["team__slug", "name"]

    def __str__(self):
        return f"{self.team.slug}/{self.name}"

    @property
    def source(self):
        """monitoring's Workflow.source of everything this instance mirrors."""
        return f"n8n:{self.pk}"

    def get_secrets(self):
        return decrypt_json(self.secrets)

    def set_secrets(self, **values):
        """Store the given secrets (merged into the stored ones; None or "" removes one)."""
        merged = {**self.get_secrets(), **values}
        self.secrets = encrypt_json({k: v for k, v in merged.items() if k in SECRET_NAMES and v not in (None, "")})

    def masked_secrets(self):
        """Secret names with their values hidden but for the last 4 characters of a key."""
        return {name: ("…" + value[-4:] if name == "api_key" and len(value) > 8 else "********")
                for name, value in self.get_secrets().items()}

    @property
    def lag(self):
        """Now minus the newest mirrored execution's start (None before the first)."""
        return timezone.now() - self.newest_execution_at if self.newest_execution_at else None

    def is_due(self, now=None):
        now = now or timezone.now()
        return self.last_run_at is None or (now - self.last_run_at).total_seconds() >= self.interval_seconds
