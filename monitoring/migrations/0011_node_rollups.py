"""Hourly and daily rollups of node runs (one node in one execution: its logs' durations summed,
failed if any of them is error or fatal), per workflow, node and duration bin (docs/rollups.md,
"Node runs"). On PostgreSQL a statement trigger on the execution logs keeps them exact as logs are
written or deleted (retention's deletes excepted), and the rollups of the stored logs are built
here, once. SQLite (the demo) gets the table but no trigger: node_stats reads its raw logs there.
"""

import django.db.models.deletion
from django.db import migrations, models

LOGS, ROLLUP, WORKFLOWS = "monitoring_executionlog", "monitoring_noderollup", "monitoring_workflow"

# The rows a node run's logs are looked for in, around the statement's logs: a run whose logs lie
# more than a day apart is split (documented).
SPAN = "interval '1 day'"

# (workflow, node, hour, bin) -> signed runs, failures and duration sums of `runs` (a relation of
# workflow_id, node_name, first_at, duration, failed, sign), added to the hour and day rows with one
# upsert in key order (concurrent writers lock rows in one order), all-zero deltas skipped.
def _upsert(runs, ctes=""):
    return f"""
        WITH {ctes} delta AS (
                SELECT workflow_id, node_name, date_trunc('hour', first_at, 'UTC') AS hour,
                       flowtower_duration_bucket(duration) AS bin, sum(sign) AS runs,
                       sum(sign * failed) AS failures, coalesce(sum(sign * duration), 0) AS duration_sum
                FROM ({runs}) AS signed_runs GROUP BY 1, 2, 3, 4),
             levels AS (
                SELECT 1 AS level, workflow_id, hour AS bucket_start, node_name, bin, runs, failures, duration_sum
                FROM delta
                UNION ALL
                SELECT 2, workflow_id, date_trunc('day', hour, 'UTC'), node_name, bin, sum(runs), sum(failures),
                       sum(duration_sum)
                FROM delta GROUP BY workflow_id, date_trunc('day', hour, 'UTC'), node_name, bin)
        INSERT INTO {ROLLUP} AS r (workflow_id, level, bucket_start, node_name, duration_bucket, runs, failures,
                                   duration_sum)
        SELECT workflow_id, level, bucket_start, node_name, bin, runs, failures, duration_sum FROM levels
        WHERE runs <> 0 OR failures <> 0 OR duration_sum <> 0
        ORDER BY workflow_id, level, bucket_start, node_name, bin
        ON CONFLICT (workflow_id, level, bucket_start, node_name, duration_bucket) DO UPDATE
        SET runs = r.runs + EXCLUDED.runs, failures = r.failures + EXCLUDED.failures,
            duration_sum = r.duration_sum + EXCLUDED.duration_sum"""


# A node run of a set of logs: grouped by execution and node, as monitoring.node_stats does.
def _runs(logs, sign):
    return f"""
        SELECT workflow_id, node_name, min(timestamp) AS first_at, sum(duration) AS duration,
               max(CASE WHEN log_level IN ('error', 'fatal') THEN 1 ELSE 0 END) AS failed, {sign} AS sign
        FROM ({logs}) AS run_logs GROUP BY workflow_id, execution_id, node_name"""


COLUMNS = "id, workflow_id, execution_id, node_name, timestamp, duration, log_level"


def _touched_logs(changed):
    """The stored logs (after the statement) of the node runs the `changed` rows belong to."""
    return f"""
        SELECT {', '.join(f'l.{c}' for c in COLUMNS.split(', '))} FROM {LOGS} l
        JOIN (SELECT DISTINCT execution_id, node_name FROM {changed}
              WHERE node_name <> '' AND execution_id IS NOT NULL) t
            ON l.execution_id = t.execution_id AND l.node_name = t.node_name
        WHERE l.timestamp >= (SELECT min(timestamp) - {SPAN} FROM {changed})
          AND l.timestamp <= (SELECT max(timestamp) + {SPAN} FROM {changed})"""


# Each statement recounts the node runs it touched: +1 for each run as it is now, -1 for each as
# it was before (now less the inserted logs, or now plus the deleted ones). A recount rather than
# a per-log delta because a run's duration is the sum of its logs and its bin moves with each.
# Retention's deletes set flowtower.keep_node_rollups: the rollups keep what ran.
TRIGGER = f"""
CREATE OR REPLACE FUNCTION flowtower_rollup_node_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_upsert(_runs('SELECT * FROM now_logs', 1) + ' UNION ALL ' + _runs(
            'SELECT * FROM now_logs n WHERE NOT EXISTS (SELECT 1 FROM new_rows x WHERE x.id = n.id)', -1),
            f"now_logs AS MATERIALIZED ({_touched_logs('new_rows')}),")};
    ELSIF coalesce(current_setting('flowtower.keep_node_rollups', true), '') <> 'on' THEN
        {_upsert(_runs('SELECT * FROM now_logs', 1) + ' UNION ALL ' + _runs(
            f"SELECT * FROM now_logs UNION ALL SELECT {COLUMNS} FROM old_rows "
            "WHERE node_name <> '' AND execution_id IS NOT NULL", -1),
            f"now_logs AS MATERIALIZED ({_touched_logs('old_rows')}),")};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER flowtower_rollup_node_runs_insert AFTER INSERT ON {LOGS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flowtower_rollup_node_runs();
CREATE TRIGGER flowtower_rollup_node_runs_delete AFTER DELETE ON {LOGS}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION flowtower_rollup_node_runs();
"""

# flowtower_rebuild_node_rollups(since, until): the rollups of [since, until) (UTC days; NULL: no
# bound) computed again from the logs: runs whose first log is in the range, their logs looked for
# up to SPAN beyond it.
_REBUILD_LOGS = f"""
    SELECT {COLUMNS} FROM {LOGS} WHERE node_name <> '' AND execution_id IS NOT NULL
        AND timestamp >= coalesce(since - {SPAN}, '-infinity') AND timestamp < coalesce(until + {SPAN}, 'infinity')"""
_REBUILD_RUNS = f"""
    SELECT * FROM ({_runs(_REBUILD_LOGS, 1)}) AS runs
    WHERE first_at >= coalesce(since, '-infinity') AND first_at < coalesce(until, 'infinity')"""
REBUILD = f"""
CREATE OR REPLACE FUNCTION flowtower_rebuild_node_rollups(since timestamptz, until timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {ROLLUP} WHERE bucket_start >= coalesce(since, '-infinity') AND bucket_start < coalesce(until, 'infinity');
    {_upsert(_REBUILD_RUNS)};
END $$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # Deleting a workflow by plain SQL takes its node rollups too (Django deletes them itself).
        cursor.execute(
            "SELECT c.conname FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'f'", [ROLLUP])
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {ROLLUP} DROP CONSTRAINT "{name}"')
        cursor.execute(f'ALTER TABLE {ROLLUP} ADD CONSTRAINT "{ROLLUP}_workflow_id_cascade" FOREIGN KEY (workflow_id) '
                       f"REFERENCES {WORKFLOWS} (id) ON DELETE CASCADE")
        cursor.execute(TRIGGER)
        cursor.execute(REBUILD)
        # The rollups of the logs already stored.
        cursor.execute("SELECT flowtower_rebuild_node_rollups(NULL, NULL)")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"""
                DROP TRIGGER IF EXISTS flowtower_rollup_node_runs_insert ON {LOGS};
                DROP TRIGGER IF EXISTS flowtower_rollup_node_runs_delete ON {LOGS};
                DROP FUNCTION IF EXISTS flowtower_rollup_node_runs(),
                    flowtower_rebuild_node_rollups(timestamptz, timestamptz);""")


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0010_hourly_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='NodeRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.PositiveSmallIntegerField()),
                ('node_name', models.CharField(max_length=255)),
                ('bucket_start', models.DateTimeField()),
                ('duration_bucket', models.SmallIntegerField()),
                ('runs', models.IntegerField(default=0)),
                ('failures', models.IntegerField(default=0)),
                ('duration_sum', models.BigIntegerField(default=0)),
                ('workflow', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='monitoring.workflow')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('workflow', 'level', 'bucket_start', 'node_name', 'duration_bucket'), name='node_rollup_key')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
