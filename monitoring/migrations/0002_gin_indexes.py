"""GIN indexes on the JSON metadata of the four records, for metadata searches.

PostgreSQL only: SQLite (the `make run` default) has no GIN, so there this migration does nothing.
"""

from django.db import migrations

TABLES = ["monitoring_executionlog", "monitoring_workflowerror", "monitoring_performancemetric", "monitoring_alert"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {table}_metadata_gin ON {table} USING gin (metadata jsonb_path_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_metadata_gin")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
