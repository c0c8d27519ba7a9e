"""Hourly and daily rollups of executions and errors (docs/rollups.md).

On PostgreSQL, triggers keep them exact as executions and errors are written, whatever writes them
(ingest, services, admin, the n8n mirror, a test's ORM insert), and the rollups of the existing
rows are built here, once. SQLite (the demo) gets the tables but no triggers: its readers keep
computing from the raw rows.
"""

import django.db.models.deletion
import django.db.models.functions.comparison
from django.db import migrations, models

EXECUTIONS, ERRORS = "monitoring_execution", "monitoring_workflowerror"
WORKFLOWS = "monitoring_workflow"
EXEC_ROLLUP, ERROR_ROLLUP = "monitoring_executionrollup", "monitoring_errorrollup"
EXEC_SUMS = ("total", "success", "error", "crashed", "canceled", "duration_sum")
ERROR_SUMS = ("total", "critical", "open_critical", "open_high")


# (level, team rows?, the bucket of an hour): workflow and team rows per hour and per UTC day, and
# team rows per 6 hours (the 7-day overview chart's buckets).
HOUR_OF = "{h}"
DAY_OF = "date_trunc('day', {h}, 'UTC')"
QUARTER_DAY_OF = ("(date_trunc('day', {h}, 'UTC') + floor(extract(hour FROM {h} AT TIME ZONE 'UTC') / 6) "
                  "* interval '6 hours')")
LEVELS = [(1, False, HOUR_OF), (2, False, DAY_OF), (3, True, HOUR_OF), (4, True, DAY_OF), (5, True, QUARTER_DAY_OF)]


def _levels(source, sums, extra=()):
    """Every level (LEVELS) of `source` (a relation with team_id, workflow_id, hour, the `extra`
    key columns and the `sums`), as one SELECT."""
    keys = "".join(f", {k}" for k in extra)
    summed = ", ".join(f"sum({c})" for c in sums)
    parts = []
    for level, team_row, bucket_of in LEVELS:
        bucket = bucket_of.format(h="hour")
        if level == 1:  # the source's own rows
            parts.append(f"SELECT 1 AS level, team_id, workflow_id, hour AS bucket_start{keys}, {', '.join(sums)} "
                         f"FROM {source}")
            continue
        workflow = "NULL::bigint" if team_row else "workflow_id"
        group = f"team_id, {'' if team_row else 'workflow_id, '}{bucket}{keys}"
        parts.append(f"SELECT {level}, team_id, {workflow}, {bucket}{keys}, {summed} FROM {source} GROUP BY {group}")
    return "\n        UNION ALL ".join(parts)


def _upsert(table, sums, extra, levels_sql):
    """Add the rows of `levels_sql` to `table`'s, in key order (so concurrent writers lock the
    same rows in the same order), skipping all-zero deltas."""
    keys = "".join(f", {k}" for k in extra)
    cols = f"level, team_id, workflow_id, bucket_start{keys}, {', '.join(sums)}"
    nonzero = " OR ".join(f"{c} <> 0" for c in sums)
    added = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in sums)
    return f"""
        INSERT INTO {table} AS r ({cols})
        SELECT {cols} FROM ({levels_sql}) AS lv WHERE {nonzero}
        ORDER BY level, team_id, workflow_id NULLS FIRST, bucket_start{keys}
        ON CONFLICT (level, team_id, COALESCE(workflow_id, 0), bucket_start{keys}) DO UPDATE SET {added}"""


# The histogram bin of a duration: -1 none, 0 for <= 0 ms, else 1 + floor(log base 1.05): bins
# 5 % wide, so a bin's geometric middle is within 2.5 % of every duration in it.
DURATION_BUCKET = """
CREATE OR REPLACE FUNCTION flowtower_duration_bucket(d bigint) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE WHEN d IS NULL THEN -1 WHEN d <= 0 THEN 0
                 ELSE least(floor(ln(d) / ln(1.05))::int + 1, 32000) END)::smallint
$$;
"""

_EXEC_DELTA = f"""
    SELECT w.team_id, c.workflow_id, date_trunc('hour', c.started_at, 'UTC') AS hour,
           flowtower_duration_bucket(c.duration_ms) AS duration_bucket,
           sum(c.sign) AS total,
           coalesce(sum(c.sign) FILTER (WHERE c.state = 'success'), 0) AS success,
           coalesce(sum(c.sign) FILTER (WHERE c.state = 'error'), 0) AS error,
           coalesce(sum(c.sign) FILTER (WHERE c.state = 'crashed'), 0) AS crashed,
           coalesce(sum(c.sign) FILTER (WHERE c.state = 'canceled'), 0) AS canceled,
           coalesce(sum(c.sign * c.duration_ms), 0) AS duration_sum
    FROM changes c JOIN {WORKFLOWS} w ON w.id = c.workflow_id
    GROUP BY w.team_id, c.workflow_id, 3, 4"""
_EXEC_COUNTED = "(o.workflow_id, o.started_at, o.state, o.duration_ms) IS DISTINCT FROM " \
                "(n.workflow_id, n.started_at, n.state, n.duration_ms)"

# Executions: the delta of each statement (inserted rows count +1; an update that changes what is
# counted, -1 for the old version and +1 for the new) added to the rollups. Deltas commute, so
# concurrent transactions cannot lose one another's counts. Deletes are not counted: retention
# keeps the rollups (deleting a workflow deletes its rollups through the foreign key).
EXECUTION_TRIGGER = f"""
CREATE OR REPLACE FUNCTION flowtower_rollup_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH changes AS (SELECT workflow_id, started_at, state, duration_ms, 1 AS sign FROM new_rows),
             delta AS ({_EXEC_DELTA})
        {_upsert(EXEC_ROLLUP, EXEC_SUMS, ("duration_bucket",), _levels("delta", EXEC_SUMS, ("duration_bucket",)))};
    ELSE
        WITH changes AS (
                SELECT n.workflow_id, n.started_at, n.state, n.duration_ms, 1 AS sign
                FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_EXEC_COUNTED}
                UNION ALL
                SELECT o.workflow_id, o.started_at, o.state, o.duration_ms, -1
                FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {_EXEC_COUNTED}),
             delta AS ({_EXEC_DELTA})
        {_upsert(EXEC_ROLLUP, EXEC_SUMS, ("duration_bucket",), _levels("delta", EXEC_SUMS, ("duration_bucket",)))};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER flowtower_rollup_executions_insert AFTER INSERT ON {EXECUTIONS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flowtower_rollup_executions();
CREATE TRIGGER flowtower_rollup_executions_update AFTER UPDATE ON {EXECUTIONS}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowtower_rollup_executions();
"""

_ERROR_TOUCHED_INSERT = "SELECT DISTINCT workflow_id, date_trunc('hour', timestamp, 'UTC') AS hour FROM new_rows"
_ERROR_TOUCHED_UPDATE = """
    SELECT n.workflow_id, date_trunc('hour', n.timestamp, 'UTC') AS hour FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (o.workflow_id, o.timestamp, o.severity, o.resolved) IS DISTINCT FROM
              (n.workflow_id, n.timestamp, n.severity, n.resolved)
    UNION
    SELECT o.workflow_id, date_trunc('hour', o.timestamp, 'UTC') FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.workflow_id, o.timestamp, o.severity, o.resolved) IS DISTINCT FROM
              (n.workflow_id, n.timestamp, n.severity, n.resolved)"""


def _error_steps(touched):
    """Recount the touched (workflow, hour) rollups from the errors table and add the difference
    to every level. The workflow-hour rows are locked first, so the recount (a statement of its
    own, with a fresh snapshot) sees every transaction that touched them before: exact. A
    recount, not a delta, because a replaced execution's errors are deleted and inserted again."""
    return f"""
        INSERT INTO {ERROR_ROLLUP} (level, team_id, workflow_id, bucket_start, total, critical, open_critical, open_high)
        SELECT 1, w.team_id, t.workflow_id, t.hour, 0, 0, 0, 0 FROM ({touched}) t JOIN {WORKFLOWS} w ON w.id = t.workflow_id
        ORDER BY w.team_id, t.workflow_id, t.hour
        ON CONFLICT (level, team_id, COALESCE(workflow_id, 0), bucket_start) DO NOTHING;
        PERFORM 1 FROM {ERROR_ROLLUP} r JOIN ({touched}) t ON r.level = 1 AND r.workflow_id = t.workflow_id
            AND r.bucket_start = t.hour ORDER BY r.team_id, r.workflow_id, r.bucket_start FOR UPDATE OF r;
        WITH fresh AS (
                SELECT t.workflow_id, t.hour, count(e.id) AS total,
                       count(e.id) FILTER (WHERE e.severity = 'critical') AS critical,
                       count(e.id) FILTER (WHERE e.severity = 'critical' AND NOT e.resolved) AS open_critical,
                       count(e.id) FILTER (WHERE e.severity = 'high' AND NOT e.resolved) AS open_high
                FROM ({touched}) t LEFT JOIN {ERRORS} e ON e.workflow_id = t.workflow_id
                    AND e.timestamp >= t.hour AND e.timestamp < t.hour + interval '1 hour'
                GROUP BY t.workflow_id, t.hour),
             delta AS (
                SELECT r.team_id, r.workflow_id, r.bucket_start AS hour, f.total - r.total AS total,
                       f.critical - r.critical AS critical, f.open_critical - r.open_critical AS open_critical,
                       f.open_high - r.open_high AS open_high
                FROM fresh f JOIN {ERROR_ROLLUP} r ON r.level = 1 AND r.workflow_id = f.workflow_id
                    AND r.bucket_start = f.hour)
        {_upsert(ERROR_ROLLUP, ERROR_SUMS, (), _levels("delta", ERROR_SUMS))};"""


# Errors: deletes are not counted either (retention), except that a recount after an insert or
# update sees them (an execution's errors replaced by the n8n mirror count once).
ERROR_TRIGGER = f"""
CREATE OR REPLACE FUNCTION flowtower_rollup_errors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {_error_steps(_ERROR_TOUCHED_INSERT)}
    ELSE {_error_steps(_ERROR_TOUCHED_UPDATE)}
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER flowtower_rollup_errors_insert AFTER INSERT ON {ERRORS}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION flowtower_rollup_errors();
CREATE TRIGGER flowtower_rollup_errors_update AFTER UPDATE ON {ERRORS}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowtower_rollup_errors();
"""


def _unroll(table, sums, extra):
    """A deleted workflow's rollups (its foreign key cascade) leave its team's rows too: each team
    level less the workflow hour rows it sums (or, for days, the workflow day rows)."""
    keys = "".join(f", {k}" for k in extra)
    on = " AND ".join(f"r.{k} = g.{k}" for k in ("team_id", "bucket_start", *extra))
    summed = ", ".join(f"sum({c}) AS {c}" for c in sums)
    parts = []
    for level, team_row, bucket_of in LEVELS:
        if team_row:
            source_level = 2 if bucket_of == DAY_OF else 1
            parts.append(f"SELECT {level} AS level, team_id, {bucket_of.format(h='bucket_start')} AS bucket_start"
                         f"{keys}, {summed} FROM old_rows WHERE level = {source_level} GROUP BY 1, 2, 3{keys}")
    return f"""
CREATE OR REPLACE FUNCTION {table}_unroll() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {table} r SET {", ".join(f"{c} = r.{c} - g.{c}" for c in sums)}
    FROM ({" UNION ALL ".join(parts)}) g
    WHERE r.level = g.level AND r.workflow_id IS NULL AND {on};
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_unroll AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_unroll();
"""


def _rebuild(name, table, source_sql, sums, extra=()):
    """flowtower_rebuild_<name>(since, until): the rollups of [since, until) (UTC days; NULL: no
    bound) computed again from the raw rows. Each statement sees what committed before it, so a
    concurrent ingest's delta lands either in the recount or on the recounted row."""
    return f"""
CREATE OR REPLACE FUNCTION flowtower_rebuild_{name}(since timestamptz, until timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {table} WHERE bucket_start >= coalesce(since, '-infinity') AND bucket_start < coalesce(until, 'infinity');
    WITH delta AS ({source_sql})
    {_upsert(table, sums, extra, _levels("delta", sums, extra))};
END $$;
"""


REBUILD_EXECUTIONS = _rebuild("execution_rollups", EXEC_ROLLUP, f"""
    SELECT w.team_id, e.workflow_id, date_trunc('hour', e.started_at, 'UTC') AS hour,
           flowtower_duration_bucket(e.duration_ms) AS duration_bucket, count(*) AS total,
           count(*) FILTER (WHERE e.state = 'success') AS success, count(*) FILTER (WHERE e.state = 'error') AS error,
           count(*) FILTER (WHERE e.state = 'crashed') AS crashed,
           count(*) FILTER (WHERE e.state = 'canceled') AS canceled, coalesce(sum(e.duration_ms), 0) AS duration_sum
    FROM {EXECUTIONS} e JOIN {WORKFLOWS} w ON w.id = e.workflow_id
    WHERE e.started_at >= coalesce(since, '-infinity') AND e.started_at < coalesce(until, 'infinity')
    GROUP BY w.team_id, e.workflow_id, 3, 4""", EXEC_SUMS, ("duration_bucket",))

REBUILD_ERRORS = _rebuild("error_rollups", ERROR_ROLLUP, f"""
    SELECT w.team_id, e.workflow_id, date_trunc('hour', e.timestamp, 'UTC') AS hour, count(*) AS total,
           count(*) FILTER (WHERE e.severity = 'critical') AS critical,
           count(*) FILTER (WHERE e.severity = 'critical' AND NOT e.resolved) AS open_critical,
           count(*) FILTER (WHERE e.severity = 'high' AND NOT e.resolved) AS open_high
    FROM {ERRORS} e JOIN {WORKFLOWS} w ON w.id = e.workflow_id
    WHERE e.timestamp >= coalesce(since, '-infinity') AND e.timestamp < coalesce(until, 'infinity')
    GROUP BY w.team_id, e.workflow_id, 3""", ERROR_SUMS)

FORWARD = [DURATION_BUCKET, EXECUTION_TRIGGER, ERROR_TRIGGER, _unroll(EXEC_ROLLUP, EXEC_SUMS, ("duration_bucket",)),
           _unroll(ERROR_ROLLUP, ERROR_SUMS, ()), REBUILD_EXECUTIONS, REBUILD_ERRORS,
           # The rollups of what is already stored.
           "SELECT flowtower_rebuild_execution_rollups(NULL, NULL); SELECT flowtower_rebuild_error_rollups(NULL, NULL);"]
BACKWARD = f"""
DROP TRIGGER IF EXISTS flowtower_rollup_executions_insert ON {EXECUTIONS};
DROP TRIGGER IF EXISTS flowtower_rollup_executions_update ON {EXECUTIONS};
DROP TRIGGER IF EXISTS flowtower_rollup_errors_insert ON {ERRORS};
DROP TRIGGER IF EXISTS flowtower_rollup_errors_update ON {ERRORS};
DROP FUNCTION IF EXISTS flowtower_rollup_executions(), flowtower_rollup_errors(),
    flowtower_rebuild_execution_rollups(timestamptz, timestamptz), flowtower_rebuild_error_rollups(timestamptz, timestamptz),
    flowtower_duration_bucket(bigint), {EXEC_ROLLUP}_unroll(), {ERROR_ROLLUP}_unroll() CASCADE;
"""


def _cascade_in_database(cursor):
    """The rollups' foreign keys delete in the database too (Django deletes them first itself):
    a workflow deleted by plain SQL (a script, the bench suite's clean-up) takes its rollups with
    it, and the unroll trigger takes them out of its team's."""
    for table in (EXEC_ROLLUP, ERROR_ROLLUP):
        for column, target in (("workflow_id", WORKFLOWS), ("team_id", "monitoring_team")):
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                "AND a.attnum = ANY(c.conkey) WHERE c.conrelid = %s::regclass AND c.contype = 'f' AND a.attname = %s",
                [table, column])
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{table}_{column}_cascade" FOREIGN KEY ({column}) '
                           f"REFERENCES {target} (id) ON DELETE CASCADE")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _cascade_in_database(cursor)
        for sql in FORWARD:
            cursor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0009_partition_execution_logs'),
    ]

    operations = [
        migrations.CreateModel(
            name='ErrorRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.PositiveSmallIntegerField(choices=[(1, 'Workflow, hour'), (2, 'Workflow, day'), (3, 'Team, hour'), (4, 'Team, day'), (5, 'Team, 6 hours')])),
                ('bucket_start', models.DateTimeField()),
                ('total', models.IntegerField(default=0)),
                ('critical', models.IntegerField(default=0)),
                ('open_critical', models.IntegerField(default=0)),
                ('open_high', models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='ExecutionRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.PositiveSmallIntegerField(choices=[(1, 'Workflow, hour'), (2, 'Workflow, day'), (3, 'Team, hour'), (4, 'Team, day'), (5, 'Team, 6 hours')])),
                ('bucket_start', models.DateTimeField()),
                ('duration_bucket', models.SmallIntegerField()),
                ('total', models.IntegerField(default=0)),
                ('success', models.IntegerField(default=0)),
                ('error', models.IntegerField(default=0)),
                ('crashed', models.IntegerField(default=0)),
                ('canceled', models.IntegerField(default=0)),
                ('duration_sum', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['-started_at'], name='execution_started'),
        ),
        migrations.AddField(
            model_name='errorrollup',
            name='team',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='monitoring.team'),
        ),
        migrations.AddField(
            model_name='errorrollup',
            name='workflow',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='monitoring.workflow'),
        ),
        migrations.AddField(
            model_name='executionrollup',
            name='team',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='monitoring.team'),
        ),
        migrations.AddField(
            model_name='executionrollup',
            name='workflow',
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='monitoring.workflow'),
        ),
        migrations.AddConstraint(
            model_name='errorrollup',
            constraint=models.UniqueConstraint(models.F('level'), models.F('team'), django.db.models.functions.comparison.Coalesce('workflow', 0), models.F('bucket_start'), name='error_rollup_key'),
        ),
        migrations.AddConstraint(
            model_name='executionrollup',
            constraint=models.UniqueConstraint(models.F('level'), models.F('team'), django.db.models.functions.comparison.Coalesce('workflow', 0), models.F('bucket_start'), models.F('duration_bucket'), name='execution_rollup_key'),
        ),
        migrations.RunPython(forward, backward),
    ]
