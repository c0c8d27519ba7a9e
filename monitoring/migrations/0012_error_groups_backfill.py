"""Error groups' foreign keys delete in the database too (as the rollups', migration 0010): a
workflow or team deleted by plain SQL takes its groups with it, and a group its occurrences. Then
the errors stored before grouping existed are filed under their groups (manage.py group_errors
does the same by hand)."""

from django.db import migrations

GROUPS, ERRORS = "monitoring_errorgroup", "monitoring_workflowerror"
KEYS = ((GROUPS, "workflow_id", "monitoring_workflow"), (GROUPS, "team_id", "monitoring_team"),
        (ERRORS, "group_id", GROUPS))


def _cascade_in_database(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, column, target in KEYS:
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                "AND a.attnum = ANY(c.conkey) WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND a.attname = %s",
                [table, column])
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{table}_{column}_cascade" FOREIGN KEY ({column}) '
                           f"REFERENCES {target} (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED")


def _group_stored_errors(apps, schema_editor):
    # The ingest path's own code, so stored errors are grouped exactly as new ones are; on a new
    # database there is nothing to do.
    if not apps.get_model("monitoring", "WorkflowError").objects.filter(group__isnull=True).exists():
        return
    from monitoring.ingest_errors import group_stored_errors

    group_stored_errors()


class Migration(migrations.Migration):
    # The backfill commits chunk by chunk (a large table is not filed in one transaction); the
    # constraints change in a transaction of their own.
    atomic = False

    dependencies = [
        ("monitoring", "0011_error_groups_and_time_saved"),
    ]

    operations = [
        migrations.RunPython(_cascade_in_database, migrations.RunPython.noop, atomic=True),
        migrations.RunPython(_group_stored_errors, migrations.RunPython.noop),
    ]
