"""Execution logs partitioned by day of `timestamp` (PostgreSQL; a no-op on SQLite).

In one transaction: the table is renamed aside, a table of the same columns, defaults and CHECK
constraints is created PARTITION BY RANGE (timestamp) with a DEFAULT partition and one partition
per UTC day from the oldest row still within the logs' retention (or two days back on an empty
table) to 7 days ahead, the rows are copied, the old table dropped, and the primary key (id,
timestamp), the same indexes and the workflow foreign key are created on the new one.

The primary key of a partitioned table must include the partition key; nothing points at a log
row, so (id, timestamp) costs nothing. Django's model keeps `id` as its primary key (Django never
checks the database's key). The foreign key from logs to executions is not re-created, and the
other keys to executions (errors, performance records, alerts, retries) lose their database
constraint (the model says db_constraint=False): PostgreSQL checked each of them for every deleted
execution (for logs, a probe of every partition), most of retention's time; retention deletes or
clears what points at the executions it deletes itself (docs/partitions.md).

Takes an ACCESS EXCLUSIVE lock on the log table while it copies: minutes for 10M rows.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations, models

TABLE = "monitoring_executionlog"
OLD = "monitoring_executionlog_unpartitioned"
DAYS_AHEAD = 7
DAYS_BACK_WHEN_EMPTY = 2


def _index_definitions(c, table):
    c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
              "AND indexname <> %s ORDER BY indexname", [table, f"{table}_pkey"])
    return [r[0] for r in c.fetchall()]


def _foreign_keys(c, table):
    """(column, definition) of the table's foreign keys."""
    c.execute("SELECT a.attname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
              "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
              "WHERE k.conrelid = to_regclass(%s) AND k.contype = 'f' ORDER BY a.attname", [table])
    return c.fetchall()


def _first_day(c, table):
    """The first day to get its own partition: the oldest row's day, but no older than the logs'
    retention (older rows wait in the default partition for the next prune)."""
    today = datetime.now(UTC).date()
    c.execute(f"SELECT min(timestamp) FROM {table}")
    oldest = c.fetchone()[0]
    if oldest is None:
        return today - timedelta(days=DAYS_BACK_WHEN_EMPTY)
    floor = today - timedelta(days=settings.FLOWTOWER_RETENTION_DAYS["logs"] + 1)
    return max(oldest.astimezone(UTC).date(), floor)


def _create_partitions(c, first_day):
    c.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    day = first_day
    last = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
    while day <= last:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        c.execute(f"CREATE TABLE {TABLE}_p{day:%Y%m%d} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
                  [start.isoformat(), (start + timedelta(days=1)).isoformat()])
        day += timedelta(days=1)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the demo): a plain table, pruned by chunked deletes
    with schema_editor.connection.cursor() as c:
        c.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes = _index_definitions(c, TABLE)
        foreign_keys = [(col, d) for col, d in _foreign_keys(c, TABLE) if col != "execution_id"]
        first_day = _first_day(c, TABLE)
        c.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        c.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) "
                  "PARTITION BY RANGE (timestamp)")
        _create_partitions(c, first_day)
        # Rows first, then keys and indexes: building an index once is cheaper than maintaining it.
        c.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        c.execute(f"DROP TABLE {OLD}")
        c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, timestamp)")
        for definition in indexes:  # "CREATE INDEX name ON public.monitoring_executionlog ...": the new table
            c.execute(definition)
        for column, definition in foreign_keys:
            c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_fk {definition}")
        c.execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor):
    """Back to one plain table with `id` as its key and both foreign keys."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as c:
        c.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        c.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
                  "AND indexname <> %s ORDER BY indexname", [TABLE, f"{TABLE}_pkey"])
        indexes = [r[0] for r in c.fetchall()]
        foreign_keys = _foreign_keys(c, TABLE)
        c.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        c.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)")
        c.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        c.execute(f"DROP TABLE {OLD} CASCADE")
        c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        for definition in indexes:
            c.execute(definition)
        for column, definition in foreign_keys:
            c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_fk {definition}")
        c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_execution_id_fk FOREIGN KEY (execution_id) "
                  "REFERENCES monitoring_execution (id) DEFERRABLE INITIALLY DEFERRED")


TASK_NAME = "Partitions: create the coming days' execution-log partitions"


def schedule(apps, schema_editor):
    """Daily at 00:07 UTC (and when beat starts, monitoring.tasks): stored in the database, as the
    retention task's schedule, so super admins can change it in admin."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="7", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": "monitoring.tasks.create_log_partitions", "crontab": crontab}
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_drop_redundant_indexes"),
                    ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [
        migrations.RunPython(schedule, unschedule),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition)],
            state_operations=[
                migrations.AlterField(
                    model_name="executionlog",
                    name="execution",
                    field=models.ForeignKey(db_constraint=False, on_delete=models.deletion.CASCADE,
                                            related_name="logs", to="monitoring.execution", db_index=False),
                ),
            ],
        ),
        # The other keys to executions lose their database constraint too (their indexes stay): each
        # was checked for every deleted execution, three quarters of retention's time on executions.
        migrations.AlterField(
            model_name="alert",
            name="execution",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=models.deletion.SET_NULL,
                                    related_name="alerts", to="monitoring.execution"),
        ),
        migrations.AlterField(
            model_name="execution",
            name="retry_of",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=models.deletion.SET_NULL,
                                    related_name="retries", to="monitoring.execution"),
        ),
        migrations.AlterField(
            model_name="performancemetric",
            name="execution",
            field=models.OneToOneField(db_constraint=False, on_delete=models.deletion.CASCADE,
                                       related_name="performance", to="monitoring.execution"),
        ),
        migrations.AlterField(
            model_name="workflowerror",
            name="execution",
            field=models.ForeignKey(db_constraint=False, on_delete=models.deletion.CASCADE, related_name="errors",
                                    to="monitoring.execution"),
        ),
    ]
