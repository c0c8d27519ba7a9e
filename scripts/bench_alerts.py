"""`make bench`: the window alert rule pass over 10,000 workflows with 3 rules each (30,000 rules:
error rate, p95 duration, and a dead-man or stuck rule), against a throwaway PostgreSQL database
holding a day of executions and a stretch of logs. Prints the pass time (target: under 2 s).

Run through manage.py shell so settings load: see the Makefile's bench target. The data is made
by SQL inside PostgreSQL (generate_series), which takes a fraction of the time Python would."""

import statistics
import time

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from alerts.evaluation_windows import evaluate_window_rules
from alerts.models import AlertRule
from monitoring.models import Alert, Execution, ExecutionLog, Team, Workflow

WORKFLOWS, TEAMS = 10_000, 20
HISTORY_HOURS = 24  # executions stored
LOG_EXECUTIONS_HOURS = 2  # executions of the last hours get logs (5 each)
PASSES = 7

# Notification work for the alerts raised runs in Celery workers, not in the pass: queue the tasks
# (in-memory broker) instead of running them inline as the eager demo default would.
current_app.conf.task_always_eager = False

now = timezone.now()
setup_started = time.perf_counter()
teams = [Team.objects.get_or_create(slug=f"alerts-bench-{t}", defaults={"name": f"Alerts bench {t}"})[0]
         for t in range(TEAMS)]
team_ids = [t.pk for t in teams]

with transaction.atomic(), connection.cursor() as cursor:
    # Workflow i runs every 5 + i % 56 minutes. Of every 200: two flaky (half their runs fail),
    # two slow (two minutes a run), one that stopped running three hours ago, one with a run
    # hung since two hours. The others fail 2 % of their runs and take 1–20 s.
    cursor.execute("""
        INSERT INTO monitoring_workflow (team_id, source, external_id, name, active, tags, created_at, updated_at)
        SELECT (%(teams)s::bigint[])[1 + i %% %(n_teams)s], 'api', 'bench-wf-' || i, 'Bench workflow ' || i, true,
               '[]'::jsonb, %(now)s - interval '30 days', %(now)s
        FROM generate_series(1, %(n)s) AS i
    """, {"teams": team_ids, "n_teams": TEAMS, "n": WORKFLOWS, "now": now})
    cursor.execute("""
        CREATE TEMP TABLE bench_wf ON COMMIT DROP AS
        SELECT id, substring(external_id from 10)::int AS i, 5 + substring(external_id from 10)::int %% 56 AS period
        FROM monitoring_workflow WHERE team_id = ANY(%(teams)s)
    """, {"teams": team_ids})
    cursor.execute("""
        INSERT INTO monitoring_execution (workflow_id, external_id, state, mode, started_at, stopped_at, duration_ms,
                                          current_step, last_activity_at, created_at, updated_at)
        SELECT w.id, 'e-' || k, s.state, 'trigger', s.started, s.started + s.duration, extract(epoch from s.duration) * 1000,
               '', s.started + s.duration, s.started, s.started
        FROM bench_wf w
        CROSS JOIN LATERAL generate_series(0, (%(hours)s * 60) / w.period) AS k
        CROSS JOIN LATERAL (SELECT %(now)s - make_interval(mins => k * w.period) AS started,
                                   abs(hashtext(w.id || ':' || k)) %% 100 AS dice) AS r
        CROSS JOIN LATERAL (SELECT r.started,
            CASE WHEN w.i %% 100 = 7 AND r.dice < 50 THEN 'error'
                 WHEN w.i %% 100 <> 7 AND r.dice < 2 THEN (CASE WHEN k %% 2 = 0 THEN 'error' ELSE 'crashed' END)
                 ELSE 'success' END AS state,
            CASE WHEN w.i %% 100 = 13 THEN interval '2 minutes'
                 ELSE make_interval(secs => 1 + r.dice / 5.0) END AS duration) AS s
        WHERE NOT (w.i %% 200 = 21 AND k * w.period < 180)
    """, {"hours": HISTORY_HOURS, "now": now})
    cursor.execute("""
        INSERT INTO monitoring_execution (workflow_id, external_id, state, mode, started_at, current_step,
                                          last_activity_at, created_at, updated_at)
        SELECT id, 'hung', 'running', 'trigger', %(now)s - interval '2 hours', 'HTTP Request',
               %(now)s - interval '2 hours', %(now)s, %(now)s
        FROM bench_wf WHERE i %% 200 = 42
    """, {"now": now})
    cursor.execute("""
        INSERT INTO monitoring_executionlog (id, workflow_id, execution_id, log_level, message, timestamp, node_id,
                                             node_name, metadata)
        SELECT gen_random_uuid(), e.workflow_id, e.id, 'info', 'Node finished: processed ' || n || ' items',
               e.started_at + make_interval(secs => n), 'node-' || n, 'Node ' || n, '{}'::jsonb
        FROM monitoring_execution e JOIN bench_wf w ON w.id = e.workflow_id
        CROSS JOIN generate_series(1, 5) AS n
        WHERE e.started_at >= %(since)s
    """, {"since": now - timezone.timedelta(hours=LOG_EXECUTIONS_HOURS)})
    # Three rules per workflow, each on its own workflow (the heaviest case for scope resolution).
    cursor.execute("""
        INSERT INTO alerts_alertrule (team_id, name, kind, workflow_id, tag, params, severity, for_seconds,
                                      auto_resolve, enabled, created_at, updated_at)
        SELECT wf.team_id, r.kind || ' ' || wf.external_id, r.kind, wf.id, '', r.params::jsonb, 'warning', 0, true, true,
               %(now)s - interval '7 days', %(now)s
        FROM monitoring_workflow wf JOIN bench_wf w ON w.id = wf.id
        CROSS JOIN LATERAL (VALUES
            ('error_rate', '{"threshold_percent": 20, "window_minutes": 60, "min_executions": 3}'),
            ('slow', '{"mode": "p95", "duration_ms": 60000, "window_minutes": 60, "min_executions": 1}'),
            (CASE WHEN w.i %% 2 = 1 THEN 'no_executions' ELSE 'stuck' END,
             CASE WHEN w.i %% 2 = 1 THEN '{"every_minutes": ' || w.period || ', "grace_minutes": 10}'
                  ELSE '{"after_minutes": 30, "include_waiting": false}' END)
        ) AS r(kind, params)
    """, {"now": now})
    cursor.execute("ANALYZE")

print(f"alert rule pass: {Workflow.objects.filter(team__in=teams).count():,} workflows, "
      f"{AlertRule.objects.filter(team__in=teams).count():,} rules, "
      f"{Execution.objects.filter(workflow__team__in=teams).count():,} executions, "
      f"{ExecutionLog.objects.count():,} logs stored (set up in {time.perf_counter() - setup_started:.0f} s)")

first = evaluate_window_rules(now)
print(f"first pass            {first['seconds'] * 1000:7.0f} ms  ({first['holding']} conditions hold: "
      f"{first['raised']} alerts raised, one transaction)")
steady = []
for i in range(1, PASSES + 1):
    summary = evaluate_window_rules(now + timezone.timedelta(seconds=i))
    steady.append(summary["seconds"] * 1000)
print(f"pass (median of {PASSES})    {statistics.median(steady):7.0f} ms  (min {min(steady):.0f}, "
      f"max {max(steady):.0f}; {summary['holding']} conditions still firing; target < 2000 ms)")
print(f"({Alert.objects.filter(team__in=teams, resolved=False).count():,} open rule alerts)")
