"""The n8n mirror's throughput from n8n's database: a real n8n's SQLite file scaled to 100k
executions (scripts/n8n_scaled_fixture.py, kept in ~/.cache/flowtower/bench), mirrored by
`sync_instance(full=True)` — what `manage.py sync_n8n --full` runs — into a Flowtower PostgreSQL
database of its own, next to the bench database: `<bench database>_mirror`. Each run starts from
an empty mirror (the first sync of a new instance: a backfill); the figure is executions per
second, median of the runs. A second figure, not a target: `--full` again over the mirrored
copy (every execution rewritten with replace=True).

As part of the scale suite: `run(ctx)` (ctx["database_url"] is the bench database; runs in a
child process so its Django settings point at the mirror database). Standalone:

    .venv/bin/python scripts/bench_scale_mirror.py --database-url postgres://…/flowtower_bench_x \
        [--redis-url redis://127.0.0.1:6379/9] [--executions 100000] [--runs 3] [--rewrite]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from n8n_scaled_fixture import scaled_fixture  # noqa: E402

TARGET_PER_SECOND = 2000
EXECUTIONS = 100_000
TEAM_SLUG = "mirror-bench"
INSTANCE_NAME = "scaled n8n"
SECRET_KEY = "bench-mirror-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-not-for-production"
# The instance's database location is stored encrypted, as always; a fixed key for this database only.
ENCRYPTION_KEY = "Zmxvd3Rvd2VyLW1pcnJvci1iZW5jaC1rZXktMzJieXQ="
# What a sync writes, emptied before each run (this database is the benchmark's own).
MIRRORED_TABLES = ("monitoring_executionlog", "monitoring_workflowerror", "monitoring_performancemetric",
                   "monitoring_alert", "monitoring_execution", "monitoring_workflow")


def mirror_database_url(bench_url):
    return f"{bench_url}_mirror"


def _prepare_database(database_url, env):
    name = database_url.rsplit("/", 1)[1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, cwd=ROOT, env=env)


def _environment(database_url, redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FLOWTOWER_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": SECRET_KEY,
                "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING",
                "FLOWTOWER_ENCRYPTION_KEYS": ENCRYPTION_KEY})
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _instance(fixture):
    from monitoring.models import Team
    from n8n_mirror.models import N8nInstance

    team = Team.objects.get_or_create(slug=TEAM_SLUG, defaults={"name": "Mirror bench"})[0]
    instance = N8nInstance.objects.filter(team=team, name=INSTANCE_NAME).first() or N8nInstance(
        team=team, name=INSTANCE_NAME, kind=N8nInstance.Kind.DATABASE)
    instance.set_secrets(database_url=str(fixture))
    instance.save()
    return instance


def _empty_mirror(instance):
    from django.db import connection

    from n8n_mirror.models import N8nInstance

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(MIRRORED_TABLES)} CASCADE")
    N8nInstance.objects.filter(pk=instance.pk).update(cursor="", unfinished_ids=[], executions_mirrored=0,
                                                      newest_execution_at=None, data_unavailable_count=0)
    instance.refresh_from_db()


def _purge_queued_tasks():
    # The commits queue event-rule evaluations for Celery workers, which the benchmark does not run.
    from celery import current_app

    try:
        current_app.control.purge()
    except Exception:  # noqa: BLE001 - an in-memory broker, or none: nothing queued to drop
        pass


def _timed_sync(instance, executions, batch_size):
    from n8n_mirror.sync import BATCH_SIZE, sync_instance

    started, cpu = time.perf_counter(), time.process_time()
    result = sync_instance(instance, full=True, batch_size=batch_size or BATCH_SIZE)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if result.error or result.executions != executions:
        raise RuntimeError(f"the sync read {result.executions} of {executions} executions: {result.error}")
    return executions / seconds, cpu / seconds


def measure(fixture, executions, runs, rewrite=False, batch_size=None, progress=print):
    """{"first": [executions/s per run], "rewrite": [...]} mirroring `fixture` (already set up Django)."""
    from django.db import connection

    instance = _instance(fixture)
    figures = {"first": [], "rewrite": []}
    for _ in range(runs):
        _empty_mirror(instance)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        rate, busy = _timed_sync(instance, executions, batch_size)
        figures["first"].append(rate)
        progress(f"  n8n mirror, first sync of {executions:,}: {rate:,.0f} executions/s "
                 f"(this process on CPU {busy:.0%} of the time)")
        if rewrite:
            rate, busy = _timed_sync(instance, executions, batch_size)
            figures["rewrite"].append(rate)
            progress(f"  n8n mirror, --full again: {rate:,.0f} executions/s (on CPU {busy:.0%})")
        _purge_queued_tasks()
    return figures


def result_rows(figures, executions):
    rows = []
    if figures["first"]:
        rate = statistics.median(figures["first"])
        size = f"{executions // 1000}k" if executions % 1000 == 0 else f"{executions:,}"
        rows.append((f"n8n mirror, database reader, {size} executions", f"{rate:,.0f} executions/s",
                     f"≥ {TARGET_PER_SECOND:,}/s", rate >= TARGET_PER_SECOND))
    if figures["rewrite"]:
        rate = statistics.median(figures["rewrite"])
        rows.append(("n8n mirror, --full again (rewrite)", f"{rate:,.0f} executions/s", "", None))
    return rows


def run(ctx, executions=EXECUTIONS):
    """The scale suite's entry: the rows of a child process running this module on the bench
    database's sibling `<name>_mirror`."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        subprocess.run([sys.executable, __file__, "--database-url", ctx["database_url"], "--redis-url",
                        ctx.get("redis_url") or "", "--runs", str(ctx.get("runs", 3)), "--executions",
                        str(executions), "--json", str(out)], check=True, cwd=ROOT)
        return [tuple(row) for row in json.loads(out.read_text())["rows"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True,
                        help="the bench database; the mirror writes into <its name>_mirror")
    parser.add_argument("--redis-url", default="",
                        help="Redis for the cache, channel layer and broker (as in production)")
    parser.add_argument("--executions", type=int, default=EXECUTIONS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="executions per ingest call (default: the sync's)")
    parser.add_argument("--rewrite", action="store_true", help="also time --full over the mirrored copy")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()

    fixture, built = scaled_fixture(args.executions)
    print(f"n8n fixture: {fixture} ({f'built in {built:.1f} s' if built else 'reused'})", flush=True)
    database_url = mirror_database_url(args.database_url)
    env = _environment(database_url, args.redis_url)
    _prepare_database(database_url, env)
    os.environ.update(env)
    import django

    django.setup()
    figures = measure(fixture, args.executions, args.runs, rewrite=args.rewrite, batch_size=args.batch_size,
                      progress=lambda line: print(line, flush=True))
    rows = result_rows(figures, args.executions)
    for name, figure, target, met in rows:
        print(f"{name} | {figure} | {target} | {'' if met is None else ('yes' if met else 'NO')}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
