"""`manage.py bench_dataset`: the benchmark suite's dataset, generated inside PostgreSQL.

    manage.py bench_dataset --workflows 1000 --executions 1000000 --logs 10000000 \
        --errors 200000 --alerts 20000 --days 30 [--teams 4]

Every row is made by INSERT ... SELECT over generate_series, so no row crosses the wire and the
work is PostgreSQL's alone. Shapes are meant to look like a busy installation: several teams,
workflows of uneven activity, executions spread over `--days` with more of them recent, mostly
successful with a tail of errors, crashes and a few still running, a lognormal-like duration,
logs per node of each execution, errors on the failed executions, alerts mostly resolved.

The parameters are kept in a one-row table (bench_dataset_marker). Run again with the same
parameters, while the data is younger than --max-age-hours (its "last 24 h" must still be the
last 24 h) and the row counts still match, and nothing is generated: the dataset is reused.

Generating first empties every monitoring table (TRUNCATE ... CASCADE): it refuses when the
database holds teams other than its own bench-* teams, unless --replace-all is given.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from monitoring import partitions
from monitoring.models import (
    Alert,
    ErrorRollup,
    Execution,
    ExecutionLog,
    ExecutionRollup,
    Membership,
    Team,
    Workflow,
    WorkflowError,
)

MARKER = "bench_dataset_marker"
TEAM_PREFIX = "bench-"
BENCH_USER = "bench"
# Node names a log or an error can name, as n8n workflows have them.
NODES = ["Webhook", "HTTP Request", "Set", "IF", "Postgres", "Slack", "Code", "Merge", "Schedule Trigger", "Gmail"]
WORDS = ["Order", "Invoice", "Lead", "Ticket", "Report", "Backup", "Sync", "Digest", "Import", "Alert"]


# Vacuumed and analyzed after generation; the rollups too (index-only scans need the visibility map).
ANALYZED = (Workflow, Execution, ExecutionLog, WorkflowError, Alert, ExecutionRollup, ErrorRollup)


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def sql_array(values):
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


class Command(BaseCommand):
    help = "Generate (or reuse) the benchmark dataset inside PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--teams", type=int, default=4)
        parser.add_argument("--workflows", type=int, default=1000)
        parser.add_argument("--executions", type=int, default=1_000_000)
        parser.add_argument("--logs", type=int, default=10_000_000)
        parser.add_argument("--errors", type=int, default=200_000)
        parser.add_argument("--alerts", type=int, default=20_000)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--max-age-hours", type=float, default=24.0,
                            help="Regenerate when the kept dataset is older than this (its recent activity "
                                 "would no longer be recent).")
        parser.add_argument("--force", action="store_true", help="Regenerate even if the kept dataset matches.")
        parser.add_argument("--replace-all", action="store_true",
                            help="Allow emptying a database that holds teams other than the bench ones.")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_dataset needs PostgreSQL (it generates rows with generate_series).")
        params = {k: opts[k] for k in ("teams", "workflows", "executions", "logs", "errors", "alerts", "days")}
        if min(params.values()) < 0 or params["teams"] < 1 or params["days"] < 1:
            raise CommandError("--teams and --days must be at least 1, the counts at least 0.")
        if params["workflows"] == 0 and params["executions"]:
            raise CommandError("--executions needs at least one workflow.")
        if params["executions"] == 0 and (params["logs"] or params["errors"]):
            raise CommandError("--logs and --errors need at least one execution.")
        self._ensure_marker()
        kept = self._kept(params, opts["max_age_hours"])
        if kept and not opts["force"]:
            self.stdout.write(f"bench dataset reused (generated {kept:%Y-%m-%d %H:%M} UTC): {self._describe(params)}")
            return
        self._check_replaceable(opts["replace_all"])
        seconds = self.generate(params)
        total = sum(seconds.values())
        self.stdout.write(f"bench dataset generated in {total:.1f} s: {self._describe(params)}")
        for step, s in seconds.items():
            self.stdout.write(f"  {step:<12} {s:8.1f} s")

    @staticmethod
    def _describe(params):
        return ", ".join(f"{v:,} {k}" for k, v in params.items() if k != "days") + f" over {params['days']} days"

    # --- the marker: what is in the database now ---

    def _ensure_marker(self):
        with connection.cursor() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (id int PRIMARY KEY CHECK (id = 1), params jsonb NOT NULL, "
                      "counts jsonb NOT NULL, generated_at timestamptz NOT NULL, seconds jsonb NOT NULL)")

    @staticmethod
    def counts():
        """Exact row counts of the generated tables (the check that nobody changed them since)."""
        models = {"teams": Team, "workflows": Workflow, "executions": Execution, "logs": ExecutionLog,
                  "errors": WorkflowError, "alerts": Alert}
        with connection.cursor() as c:
            c.execute(" UNION ALL ".join(f"SELECT '{k}', count(*) FROM {table(m)}" for k, m in models.items()))
            return dict(c.fetchall())

    def _kept(self, params, max_age_hours):
        """The kept dataset's generation time if it matches `params`, is fresh and unchanged; else None."""
        with connection.cursor() as c:
            c.execute(f"SELECT params, counts, generated_at FROM {MARKER} WHERE id = 1")
            row = c.fetchone()
        if row is None:
            return None
        kept_params, kept_counts, generated_at = row
        kept_params = json.loads(kept_params) if isinstance(kept_params, str) else kept_params
        kept_counts = json.loads(kept_counts) if isinstance(kept_counts, str) else kept_counts
        if kept_params != params or (timezone.now() - generated_at).total_seconds() > max_age_hours * 3600:
            return None
        return generated_at if self.counts() == kept_counts else None

    def _check_replaceable(self, replace_all):
        others = list(Team.objects.exclude(slug__startswith=TEAM_PREFIX).values_list("slug", flat=True)[:5])
        if others and not replace_all:
            raise CommandError(f"This database holds other teams ({', '.join(others)}); generating empties every "
                               "monitoring table. Use a database of its own, or --replace-all.")

    # --- generation ---

    def generate(self, p):
        """Empty the tables, fill them step by step; returns seconds per step."""
        seconds = {}

        def step(name, *statements):
            start = time.monotonic()
            with connection.cursor() as c:
                for sql in statements:
                    c.execute(sql)
            seconds[name] = round(time.monotonic() - start, 2)

        now = timezone.now()
        with transaction.atomic():
            with connection.cursor() as c:
                # The rows are consistent by construction: skipping the foreign-key triggers (and their
                # queue of millions of deferred checks) is what makes 10M rows affordable. Superuser only.
                c.execute("SET LOCAL session_replication_role = replica")
                c.execute("SET LOCAL synchronous_commit = off")
                c.execute("SET LOCAL work_mem = '256MB'")
                c.execute("CREATE TEMP TABLE bench_now ON COMMIT DROP AS SELECT %s::timestamptz AS t", [now])
            step("truncate", f"TRUNCATE {table(Team)}, {table(Workflow)}, {table(Execution)}, {table(ExecutionLog)}, "
                             f"{table(WorkflowError)}, {table(Alert)} RESTART IDENTITY CASCADE")
            # A daily log partition for each day of the period (PostgreSQL's partitioned log table), so
            # the logs land there and retention can drop them, not in the default partition.
            partitions.ensure_partitions(days_back=p["days"] + 1, now=now)
            step("teams", *self._teams_sql(p))
            step("workflows", self._workflows_sql(p),
                 f"SELECT setval(pg_get_serial_sequence('{Workflow._meta.db_table}', 'id'), greatest({p['workflows']}, 1))")
            step("executions", *self._executions_sql(p))
            step("logs", self._logs_sql(p))
            step("errors", self._errors_sql(p))
            step("alerts", self._alerts_sql(p))
            # The rows above skipped the triggers that keep the rollups (replica role): build them
            # now, from the rows, as `manage.py rebuild_rollups` would (monitoring.rollups).
            step("rollups", "SELECT flowtower_rebuild_execution_rollups(NULL, NULL)",
                 "SELECT flowtower_rebuild_error_rollups(NULL, NULL)")
            counts = self.counts()
            with connection.cursor() as c:
                c.execute(f"INSERT INTO {MARKER} (id, params, counts, generated_at, seconds) VALUES (1, %s, %s, %s, %s) "
                          "ON CONFLICT (id) DO UPDATE SET params = EXCLUDED.params, counts = EXCLUDED.counts, "
                          "generated_at = EXCLUDED.generated_at, seconds = EXCLUDED.seconds",
                          [json.dumps(p), json.dumps(counts), now, json.dumps(seconds)])
        if not connection.in_atomic_block:  # VACUUM cannot run in a transaction (e.g. inside a test)
            # Statistics for the planner and a visibility map for index-only scans, as autovacuum
            # would leave a table that has settled; the benchmarks should not measure a cold table.
            step("analyze", *(f"VACUUM (ANALYZE) {table(m)}" for m in ANALYZED))
        else:
            step("analyze", *(f"ANALYZE {table(m)}" for m in ANALYZED))
        with connection.cursor() as c:
            c.execute(f"UPDATE {MARKER} SET seconds = %s WHERE id = 1", [json.dumps(seconds)])
        return seconds

    def _teams_sql(self, p):
        from django.contrib.auth import get_user_model

        User = get_user_model()
        user, _ = User.objects.get_or_create(username=BENCH_USER, defaults={"is_staff": True})
        return [
            f"INSERT INTO {table(Team)} (id, slug, name, created_at) SELECT g, '{TEAM_PREFIX}' || g, "
            f"'Bench team ' || g, (SELECT t FROM bench_now) - interval '1 year' FROM generate_series(1, {p['teams']}) g",
            f"SELECT setval(pg_get_serial_sequence('{Team._meta.db_table}', 'id'), {p['teams']})",
            # The bench user sees every team: the pages show all workflows, as for a user of a large team.
            f"INSERT INTO {table(Membership)} (team_id, user_id, role, created_at) SELECT g, {user.pk}, 'admin', "
            f"(SELECT t FROM bench_now) FROM generate_series(1, {p['teams']}) g",
        ]

    def _workflows_sql(self, p):
        return (
            f"INSERT INTO {table(Workflow)} (id, team_id, source, external_id, name, active, tags, "
            "expected_interval_minutes, created_at, updated_at) "
            f"SELECT g, 1 + (g - 1) % {p['teams']}, 'api', 'wf-' || lpad(g::text, 5, '0'), "
            f"({sql_array(WORDS)})[1 + g % 10] || ' ' || ({sql_array(WORDS)})[1 + (g / 10) % 10] || ' #' || g, "
            "g % 20 <> 0, jsonb_build_array(CASE WHEN g % 3 = 0 THEN 'prod' ELSE 'staging' END), "
            "CASE WHEN g % 4 = 0 THEN 15 END, (SELECT t FROM bench_now) - interval '90 days', (SELECT t FROM bench_now) "
            f"FROM generate_series(1, {p['workflows']}) g"
        )

    def _executions_sql(self, p):
        # The workflow: power(random, 2) makes low ids busy and high ids quiet. The age: power(random, 1.5)
        # puts more executions in the recent days. Duration: exp of a sum of uniforms, ~0.2-20 s.
        return [
            "CREATE TEMP TABLE bench_ex ON COMMIT DROP AS SELECT g AS id, "
            f"1 + least({p['workflows'] - 1}, floor({p['workflows']} * power(random(), 2))::int) AS workflow_id, "
            f"(SELECT t FROM bench_now) - power(random(), 1.5) * interval '{p['days']} days' AS started_at, "
            "random() AS r, round(exp(5.3 + 2 * (random() + random() + random()) / 1.5))::bigint AS duration "
            f"FROM generate_series(1, {p['executions']}) g",
            f"INSERT INTO {table(Execution)} (id, workflow_id, external_id, state, mode, started_at, stopped_at, "
            "duration_ms, current_step, step_number, total_steps, last_activity_at, metadata, created_at, updated_at) "
            "SELECT id, workflow_id, 'ex-' || id, s.state, "
            "(ARRAY['webhook', 'trigger', 'manual', 'cli'])[1 + id % 4], started_at, "
            "CASE WHEN s.state NOT IN ('running', 'waiting') THEN started_at + duration * interval '1 ms' END, "
            "CASE WHEN s.state NOT IN ('running', 'waiting') THEN duration END, "
            f"({sql_array(NODES)})[1 + id % 10], 1 + id % 10, 10, "
            "started_at + duration * interval '1 ms', '{}'::jsonb, started_at, started_at + duration * interval '1 ms' "
            "FROM bench_ex, LATERAL (SELECT CASE "
            "  WHEN started_at > (SELECT t FROM bench_now) - interval '10 minutes' AND r < 0.5 THEN 'running' "
            "  WHEN r < 0.85 THEN 'success' WHEN r < 0.93 THEN 'error' WHEN r < 0.95 THEN 'crashed' "
            "  WHEN r < 0.97 THEN 'canceled' WHEN r < 0.98 THEN 'waiting' ELSE 'success' END AS state) s",
            f"SELECT setval(pg_get_serial_sequence('{Execution._meta.db_table}', 'id'), greatest({p['executions']}, 1))",
        ]

    @staticmethod
    def _spread(total, source):
        """FROM clause giving exactly `total` rows `(e, n, k)`: each row `e` of `source` (numbered
        1..N as e.rn) repeated total / N times, one more for the first total % N; n is the repeat's
        number (1..k) and k the repeats of that row."""
        return (
            f"(SELECT *, count(*) OVER () AS total_rows FROM ({source}) src0) src, "
            f"LATERAL (SELECT {total} / src.total_rows + CASE WHEN src.rn <= {total} % src.total_rows THEN 1 ELSE 0 END "
            "AS k) kk, LATERAL generate_series(1, kk.k) n"
        )

    def _logs_sql(self, p):
        if not p["logs"]:
            return "SELECT 1"
        source = (f"SELECT id, workflow_id, state, started_at, coalesce(duration_ms, 1000) AS duration_ms, "
                  f"id AS rn FROM {table(Execution)}")
        return (
            f"INSERT INTO {table(ExecutionLog)} (id, workflow_id, execution_id, log_level, message, timestamp, node_id, "
            "node_name, step_number, duration, metadata) "
            "SELECT gen_random_uuid(), src.workflow_id, src.id, "
            "CASE WHEN n = kk.k AND src.state IN ('error', 'crashed') THEN 'error' "
            "  WHEN (src.id + n) % 17 = 0 THEN 'warn' WHEN (src.id + n) % 5 = 0 THEN 'debug' ELSE 'info' END, "
            f"'Node ' || ({sql_array(NODES)})[1 + (src.id + n) % 10] || ' finished: ' || (n * 7 + src.id % 50) || ' items', "
            "src.started_at + (src.duration_ms * n / kk.k) * interval '1 ms', "
            "'node-' || ((src.id + n) % 10), "
            f"({sql_array(NODES)})[1 + (src.id + n) % 10], n, (src.duration_ms / kk.k)::int, "
            "jsonb_build_object('items', n * 7 + src.id % 50) "
            f"FROM {self._spread(p['logs'], source)}"
        )

    def _errors_sql(self, p):
        if not p["errors"]:
            return "SELECT 1"
        # On the failed executions; on any execution if there are none (tiny datasets).
        source = (f"SELECT id, workflow_id, started_at, coalesce(duration_ms, 1000) AS duration_ms, "
                  f"row_number() OVER (ORDER BY id) AS rn FROM {table(Execution)} "
                  f"WHERE state IN ('error', 'crashed') OR NOT EXISTS "
                  f"(SELECT 1 FROM {table(Execution)} WHERE state IN ('error', 'crashed'))")
        return (
            f"INSERT INTO {table(WorkflowError)} (id, workflow_id, execution_id, error_type, error_code, error_message, "
            "error_stack, node_name, severity, metadata, timestamp, resolved, resolution_notes, resolved_at, resolved_by) "
            "SELECT gen_random_uuid(), src.workflow_id, src.id, "
            "(ARRAY['validation', 'network', 'timeout', 'permission', 'data', 'system', 'unknown'])[1 + (src.id + n) % 7], "
            "'E' || (100 + (src.id + n) % 40), 'Request failed with status ' || (400 + (src.id + n) % 104), "
            "'Error: failed\n    at Node.execute (node.js:' || (src.id % 500) || ')', "
            f"({sql_array(NODES)})[1 + (src.id + n) % 10], "
            "(ARRAY['low', 'medium', 'medium', 'high', 'critical'])[1 + (src.id + n) % 5], '{}'::jsonb, "
            "src.started_at + src.duration_ms * interval '1 ms', res.resolved, "
            "CASE WHEN res.resolved THEN 'fixed upstream' ELSE '' END, "
            "CASE WHEN res.resolved THEN src.started_at + interval '1 hour' END, "
            "CASE WHEN res.resolved THEN 'bench' ELSE '' END "
            f"FROM {self._spread(p['errors'], source)}, "
            "LATERAL (SELECT src.started_at < (SELECT t FROM bench_now) - interval '2 days' AND (src.id + n) % 10 < 7 "
            "AS resolved) res"
        )

    def _alerts_sql(self, p):
        if not p["alerts"]:
            return "SELECT 1"
        # Spread over the period (more of them recent); old ones mostly acknowledged and resolved.
        # Unique fingerprints: the one-open-alert-per-fingerprint constraint holds.
        wf_pick = (f"1 + least({max(p['workflows'], 1) - 1}, floor({max(p['workflows'], 1)} * "
                   "power(random(), 2))::int)")
        return (
            f"INSERT INTO {table(Alert)} (id, team_id, workflow_id, execution_id, alert_type, severity, title, "
            "description, metadata, timestamp, fingerprint, source, occurrences, last_seen_at, labels, silenced, "
            "inhibited, acknowledged, acknowledged_by, acknowledged_at, resolved, resolved_at, resolved_by, "
            "resolution_notes) "
            "SELECT gen_random_uuid(), w.team_id, w.id, NULL, "
            "(ARRAY['performance', 'error', 'timeout', 'resource', 'dependency'])[1 + a.g % 5], "
            "(ARRAY['info', 'warning', 'warning', 'critical'])[1 + a.g % 4], "
            "'Workflow ' || w.external_id || ': ' || (ARRAY['slow runs', 'error rate high', 'timed out', "
            "'memory high', 'API down'])[1 + a.g % 5], 'Raised by the bench dataset', '{}'::jsonb, a.ts, "
            "'bench-' || a.g, (ARRAY['posted', 'rule'])[1 + a.g % 2], 1 + a.g % 5, a.ts + interval '5 minutes', "
            "'{}'::jsonb, false, false, a.old AND a.g % 10 < 8, CASE WHEN a.old AND a.g % 10 < 8 THEN 'bench' ELSE '' END, "
            "CASE WHEN a.old AND a.g % 10 < 8 THEN a.ts + interval '10 minutes' END, a.old AND a.g % 10 < 7, "
            "CASE WHEN a.old AND a.g % 10 < 7 THEN a.ts + interval '1 hour' END, "
            "CASE WHEN a.old AND a.g % 10 < 7 THEN 'bench' ELSE '' END, '' "
            f"FROM (SELECT g, {wf_pick} AS wf, ts, ts < (SELECT t FROM bench_now) - interval '1 day' AS old "
            f"FROM (SELECT g, (SELECT t FROM bench_now) - power(random(), 1.5) * interval '{p['days']} days' AS ts "
            f"FROM generate_series(1, {p['alerts']}) g) t0) a JOIN {table(Workflow)} w ON w.id = a.wf"
        )
