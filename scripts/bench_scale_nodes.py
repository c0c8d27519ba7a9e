"""One workflow's node statistics on the scale dataset, in one process: node_stats from the node
rollups (migration 0011) against the exact computation from the raw logs, on the busiest workflow,
side by side; and what the node rollups' trigger adds to writing a batch of 1,000 logs (COPY, as
ingest writes them), with the trigger and without it, side by side, each batch rolled back.

    python scripts/bench_scale_nodes.py --database-url postgres://.../flowtower_bench_x [--runs 15]

The database must hold the bench dataset, migrated (docs/benchmarks.md); nothing is left written.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50
BATCH = 1_000


def _median_ms(samples):
    return round(statistics.median(samples) * 1000, 1)


def _busiest_workflow():
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT workflow_id FROM monitoring_executionlog WHERE timestamp >= now() - interval '1 day' "
                       "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        return cursor.fetchone()[0]


def node_stats_timings(runs):
    """(rollups, raw) median seconds of node_stats for the busiest workflow over 7 days."""
    from django.utils import timezone
    from monitoring import node_stats as ns
    from monitoring.models import Workflow
    workflow = Workflow.objects.get(pk=_busiest_workflow())
    rolled, raw = [], []
    for _ in range(runs + 1):  # the first of each is a warm-up
        now = timezone.now()
        t = time.perf_counter()
        ns.node_stats(workflow, 7, now)
        rolled.append(time.perf_counter() - t)
        t = time.perf_counter()
        ns._windows_sql(ns._node_runs(workflow, now - timedelta(days=14), now), now - timedelta(days=7))
        raw.append(time.perf_counter() - t)
    return rolled[1:], raw[1:]


def _batch(workflow_id):
    """1,000 logs: 10 node logs for each of the workflow's 100 latest executions (runs that exist)."""
    from django.utils import timezone
    from monitoring.models import Execution, ExecutionLog
    executions = list(Execution.objects.filter(workflow_id=workflow_id).order_by("-started_at")[:BATCH // 10])
    now = timezone.now()
    return [ExecutionLog(workflow_id=workflow_id, execution=e, node_name=f"Node {i % 10}", log_level="info",
                         message="bench", timestamp=now, duration=100 + i, metadata={})
            for e in executions for i in range(10)]


def ingest_timings(runs):
    """(with trigger, without) seconds of COPYing 1,000 logs, alternating, each rolled back."""
    from django.db import connection, transaction
    from monitoring.bulk_write import copy_rows
    workflow_id = _busiest_workflow()
    timings = {True: [], False: []}
    for i in range(2 * (runs + 1)):
        with_trigger = i % 2 == 0
        logs = _batch(workflow_id)
        try:
            with transaction.atomic():
                if not with_trigger:
                    with connection.cursor() as cursor:
                        cursor.execute("ALTER TABLE monitoring_executionlog DISABLE TRIGGER "
                                       "flowtower_rollup_node_runs_insert")
                t = time.perf_counter()
                copy_rows(type(logs[0]), logs)
                timings[with_trigger].append(time.perf_counter() - t)
                raise _Rollback
        except _Rollback:
            pass
    return timings[True][1:], timings[False][1:]


class _Rollback(Exception):
    pass


def measure(runs):
    rolled, raw = node_stats_timings(runs)
    with_trigger, without = ingest_timings(runs)
    return {"node_stats_rollups_ms": _median_ms(rolled), "node_stats_raw_ms": _median_ms(raw),
            "copy_with_trigger_ms": _median_ms(with_trigger), "copy_without_trigger_ms": _median_ms(without)}


def run(ctx):
    """The bench suite's rows, measured in a child process on ctx's database."""
    env = {**ctx["env"], "DATABASE_URL": ctx["database_url"], "REDIS_URL": ctx["redis_url"]}
    out = subprocess.run([sys.executable, __file__, "--database-url", ctx["database_url"], "--redis-url",
                          ctx["redis_url"], "--runs", str(ctx.get("runs") or 15), "--json"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        ("one workflow's node stats, 7 d (rollups, in-process median)", f"{m['node_stats_rollups_ms']} ms",
         f"< {TARGET_MS} ms", m["node_stats_rollups_ms"] < TARGET_MS),
        ("  the same from the raw logs", f"{m['node_stats_raw_ms']} ms", "", None),
        (f"COPY of {BATCH:,} logs with the node rollup trigger", f"{m['copy_with_trigger_ms']} ms",
         f"without: {m['copy_without_trigger_ms']} ms", None),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print one JSON line (the bench suite reads it)")
    args = parser.parse_args()
    os.environ.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, DJANGO_SETTINGS_MODULE="config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DEBUG", "0")
    sys.path.insert(0, str(ROOT))
    import django
    django.setup()
    figures = measure(args.runs)
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
