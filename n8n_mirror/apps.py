from django.apps import AppConfig


class N8nMirrorConfig(AppConfig):
    """Mirrors n8n executions into Flowtower through monitoring.ingest."""

    name = "n8n_mirror"
    verbose_name = "n8n mirror"
