"""`make bench-scale`: the "Performance at scale" benchmark suite (docs/benchmarks.md).

Generates (or reuses) the dataset with `manage.py bench_dataset` in a database of its own, starts
two Daphne processes with the production settings (DEBUG off, Redis) on it, and measures over HTTP:
the dashboard summary (24 h / 7 d / 30 d), the pages, one workflow's dashboard, live status, the
lists, /api/v1/logs/ cursor pages, and batch ingest through the REST batch endpoint against a
psycopg COPY of the same rows into the same table in the same run. Prints one table: benchmark,
figure, target, met or not.

A read figure is the p95 of one run's requests (after warm-up), over loopback with a kept-alive
connection, so it is the server's time plus well under a millisecond; the figure printed is the
median of --runs runs. Ingest rates are medians of --runs runs too, each run with its COPY.

    .venv/bin/python scripts/bench_suite.py [--logs 10000000 ...] [--runs 3] [--requests 30]
"""

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import bench_post  # noqa: E402  (scripts/: starts production's server)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/flowtower_bench_big"
SECRET_KEY = "bench-suite-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-not-for-production"
READ_TARGET_MS = 50
INGEST_TARGET_RATIO = 0.5
INGEST_WORKFLOW = "bench-ingest"
API = "/api/workflows/monitoring"
DATASET = {"teams": 4, "workflows": 1000, "executions": 1_000_000, "logs": 10_000_000, "errors": 200_000,
           "alerts": 20_000, "days": 30}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


# --- what is measured ---

def read_benchmarks(workflow_pk, workflow_external_id):
    """(name, path) of every read in the table; all answered for the bench user (member of every team)."""
    return [
        ("dashboard summary 24 h", f"{API}?type=dashboard&period=24h"),
        ("dashboard summary 7 d", f"{API}?type=dashboard&period=7d"),
        ("dashboard summary 30 d", f"{API}?type=dashboard&period=30d"),
        ("overview page 24 h", "/?period=24h"),
        ("overview page 7 d", "/?period=7d"),
        ("overview page 30 d", "/?period=30d"),
        ("workflows page", "/workflows/"),
        ("logs page", "/logs/"),
        ("errors page", "/errors/"),
        ("alerts page", "/alerts/"),
        ("one workflow's dashboard page", f"/workflows/{workflow_pk}/"),
        ("live status (API)", f"{API}?type=live-status&workflow_id={workflow_external_id}"),
        ("logs list (API)", f"{API}?type=logs"),
        ("errors list (API)", f"{API}?type=errors"),
        ("alerts list (API)", f"{API}?type=alerts"),
    ]


def timed_get(session, url):
    start = time.perf_counter()
    response = session.get(url, timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    return elapsed, response


def measure_reads(session, url, requests_per_run, warmup, budget_seconds):
    """Latencies (ms) of one run: `warmup` unmeasured requests, then up to `requests_per_run`
    measured ones, fewer if the run would exceed `budget_seconds` (at least 5: slow pages
    must not stall the suite for minutes)."""
    for _ in range(warmup):
        timed_get(session, url)
    times, started = [], time.monotonic()
    while len(times) < requests_per_run and (len(times) < 5 or time.monotonic() - started < budget_seconds):
        times.append(timed_get(session, url)[0])
    return times


def measure_cursor_pages(session, base_url, requests_per_run, warmup):
    """Latencies of successive /api/v1/logs/ pages, each fetched through the previous page's
    `next` cursor (a reader paging back through history)."""
    url = f"{base_url}/api/v1/logs/?limit=50"
    for _ in range(warmup):
        url = timed_get(session, url)[1].json()["next"] or f"{base_url}/api/v1/logs/?limit=50"
    times = []
    while len(times) < requests_per_run:
        elapsed, response = timed_get(session, url)
        times.append(elapsed)
        url = response.json()["next"] or f"{base_url}/api/v1/logs/?limit=50"
    return times


def ingest_rows(run_id, batches, batch_size):
    """The logs one ingest run posts: `batches` lists of `batch_size`, one execution per batch."""
    return [[{"workflow_id": INGEST_WORKFLOW, "execution_id": f"{run_id}-{b}", "log_level": "info",
              "message": f"Node HTTP Request finished: {i} items", "node_id": "node-3", "node_name": "HTTP Request",
              "step_number": i % 10, "duration": 120 + i % 50, "metadata": {"items": i, "password": "secret"}}
             for i in range(batch_size)] for b in range(batches)]


def measure_batch_ingest(server_urls, token, batches, threads=2):
    """Rows/s through POST ?type=batch: `threads` clients, client k posting to server k % n."""
    run_id = uuid.uuid4().hex[:8]
    work = ingest_rows(run_id, batches, 1000 if batches > 1 else 100)
    failures = []

    def client(k):
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            url = f"{server_urls[k % len(server_urls)]}{API}?type=batch"
            for batch in work[k::threads]:
                r = s.post(url, json={"logs": batch}, timeout=120)
                if r.status_code >= 300:
                    failures.append(f"{r.status_code}: {r.text[:200]}")

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"batch ingest failed: {failures[0]}")
    return sum(len(b) for b in work) / seconds, run_id, work


def measure_copy(database_url, run_id, work):
    """Rows/s of a psycopg COPY of the same rows into the same table (the executions and the
    workflow the REST run created), in one transaction as the batch endpoint's is."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        executions = dict(conn.execute(
            "SELECT e.external_id, e.id FROM monitoring_execution e JOIN monitoring_workflow w ON w.id = e.workflow_id "
            "WHERE w.external_id = %s AND e.external_id LIKE %s", [INGEST_WORKFLOW, run_id + "-%"]).fetchall())
        workflow_id = conn.execute("SELECT id FROM monitoring_workflow WHERE external_id = %s",
                                   [INGEST_WORKFLOW]).fetchone()[0]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY monitoring_executionlog (id, workflow_id, execution_id, log_level, message, timestamp, "
                          "node_id, node_name, step_number, duration, metadata) FROM STDIN") as copy:
                for batch in work:
                    for row in batch:
                        copy.write_row((uuid.uuid4(), workflow_id, executions[row["execution_id"]], row["log_level"],
                                        row["message"], now,
                                        row["node_id"], row["node_name"], row["step_number"], row["duration"],
                                        json.dumps({**row["metadata"], "password": "********"})))
        conn.commit()
        return sum(len(b) for b in work) / (time.perf_counter() - started)


def remove_ingested(database_url):
    """The rows the ingest runs added go again, so the kept dataset's counts still match: first
    what any table with a foreign key to workflows or executions (logs, errors, rollups, …) holds
    of the ingest workflow, then its executions and the workflow."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        referencing = conn.execute(
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid IN (%(tables)s) AND c.conrelid NOT IN (%(tables)s)"
            % {"tables": "'monitoring_workflow'::regclass, 'monitoring_execution'::regclass"}).fetchall()
        workflow = "SELECT id FROM monitoring_workflow WHERE external_id = %s"
        executions = f"SELECT id FROM monitoring_execution WHERE workflow_id IN ({workflow})"
        # Keys without a database constraint (docs/partitions.md) are not in pg_constraint.
        children = {("monitoring_executionlog", "workflow_id", "monitoring_workflow"),
                    ("monitoring_workflowerror", "workflow_id", "monitoring_workflow"),
                    ("monitoring_alert", "workflow_id", "monitoring_workflow"),
                    ("monitoring_performancemetric", "workflow_id", "monitoring_workflow")}
        for table, column, target in sorted(children | set(referencing)):
            ids = workflow if target == "monitoring_workflow" else executions
            conn.execute(f'DELETE FROM {table} WHERE "{column}" IN ({ids})', [INGEST_WORKFLOW])
        conn.execute(f"DELETE FROM monitoring_execution WHERE workflow_id IN ({workflow})", [INGEST_WORKFLOW])
        conn.execute("DELETE FROM monitoring_workflow WHERE external_id = %s", [INGEST_WORKFLOW])


# --- the table ---

def result_rows(reads, cursor, ingest):
    """Rows (benchmark, figure, target, met) from measured values: `reads` {name: [p95 per run]},
    `cursor` [p95 per run], `ingest` [(rest rows/s, copy rows/s) per run]."""
    rows = []
    for name, p95s in reads.items():
        figure = statistics.median(p95s)
        rows.append((name, f"p95 {figure:,.0f} ms", f"p95 < {READ_TARGET_MS} ms", figure < READ_TARGET_MS))
    if cursor:
        figure = statistics.median(cursor)
        rows.append(("/api/v1/logs/ cursor pages", f"p95 {figure:,.0f} ms", f"p95 < {READ_TARGET_MS} ms",
                     figure < READ_TARGET_MS))
    if ingest:
        rest = statistics.median(r for r, _ in ingest)
        copy = statistics.median(c for _, c in ingest)
        ratio = statistics.median(r / c for r, c in ingest)
        rows.append(("batch ingest, REST batch endpoint", f"{rest:,.0f} rows/s", "", None))
        rows.append(("same rows by psycopg COPY", f"{copy:,.0f} rows/s", "", None))
        rows.append(("batch ingest / COPY (same run)", f"{ratio:.2f} ×", f"≥ {INGEST_TARGET_RATIO} ×",
                     ratio >= INGEST_TARGET_RATIO))
    return rows


def format_table(rows):
    header = ("benchmark", "figure", "target", "met")
    cells = [header] + [(n, f, t, "" if m is None else ("yes" if m else "NO")) for n, f, t, m in rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(4)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


# --- running it ---

def run_suite(server_urls, cookie, token, workflow, database_url, runs=3, requests_per_run=30, warmup=3,
              budget_seconds=30, ingest_batches=20, progress=print):
    """Measure everything against running servers; returns the table's rows."""
    session = requests.Session()
    session.headers["Cookie"] = cookie
    reads = {}
    for name, path in read_benchmarks(*workflow):
        reads[name] = []
        for _ in range(runs):
            times = measure_reads(session, server_urls[0] + path, requests_per_run, warmup, budget_seconds)
            reads[name].append(percentile(times, 95))
        progress(f"  {name:<32} p95 per run: {', '.join(f'{v:,.0f}' for v in reads[name])} ms")
    cursor = [percentile(measure_cursor_pages(session, server_urls[0], requests_per_run, warmup), 95)
              for _ in range(runs)]
    progress(f"  {'cursor pages':<32} p95 per run: {', '.join(f'{v:,.0f}' for v in cursor)} ms")
    ingest = []
    try:
        for _ in range(runs):
            rest, run_id, work = measure_batch_ingest(server_urls, token, ingest_batches)
            copy = measure_copy(database_url, run_id, work)
            ingest.append((rest, copy))
            progress(f"  ingest: REST {rest:,.0f} rows/s, COPY {copy:,.0f} rows/s, ratio {rest / copy:.2f}")
    finally:
        remove_ingested(database_url)
    return result_rows(reads, cursor, ingest)


def prepare(database_url, dataset):
    """Create the database if needed, migrate, generate or reuse the dataset; then, in this
    process, the bench user's session cookie, a token of team 1 and the busiest workflow."""
    name = database_url.rsplit("/", 1)[1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, cwd=ROOT)
    subprocess.run([*manage, "bench_dataset", *[f"--{k}={v}" for k, v in dataset.items()]], check=True, cwd=ROOT)
    import django

    django.setup()
    return credentials()


def credentials():
    """(session cookie of the bench user, raw token of team bench-1, (pk, external id) of the busiest workflow)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from monitoring.management.commands.bench_dataset import BENCH_USER, TEAM_PREFIX
    from monitoring.models import ServiceToken, Team, Workflow

    client = Client()
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    ServiceToken.objects.filter(name="bench-suite").delete()
    token = ServiceToken.issue(Team.objects.get(slug=TEAM_PREFIX + "1"), "bench-suite")[1]
    busiest = Workflow.objects.exclude(external_id=INGEST_WORKFLOW).order_by("pk").first()
    return f"sessionid={client.cookies['sessionid'].value}", token, (busiest.pk, busiest.external_id)


def collect_static(env):
    """Production settings serve pages only from collected, hashed static files."""
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v0"], env=env,
                   cwd=ROOT, check=True)


def server_env(database_url, redis_url, static_root, secret_key=SECRET_KEY):
    """Production settings (DEBUG off), as the README starts Flowtower, on the bench database.
    The secret key is this process's too: the session cookie made here must be valid there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FLOWTOWER_", "SECURE_", "SESSION_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": secret_key,
                "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "DATABASE_URL": database_url,
                "REDIS_URL": redis_url, "STATIC_ROOT": str(static_root), "LOG_LEVEL": "WARNING",
                # Throttling is counted but never reached: the point is the server's own speed.
                "FLOWTOWER_THROTTLE_TOKEN": "100000000/min", "FLOWTOWER_THROTTLE_USER": "100000000/min"})
    return env


# Benchmarks kept in modules of their own (scripts/bench_scale_<topic>.py), each with
# run(ctx) -> [(benchmark, figure, target, met)], in this order: retention last, as it deletes.
EXTRA_MODULES = ["bench_scale_http", "bench_scale_mirror", "bench_scale_alerts", "bench_scale_retention"]


def run_extra(ctx, names, progress=print):
    """The rows of each named extra module; a module that fails gives a row saying so, not a lost table."""
    rows = []
    for name in names:
        progress(f"  {name} ...")
        try:
            rows.extend(importlib.import_module(name).run(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not lose the others' rows
            rows.append((name, f"failed: {exc!r}"[:200], "", False))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    for key, value in DATASET.items():
        parser.add_argument(f"--{key}", type=int, default=value)
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark; the figure is their median")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per read run (after warm-up)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30, help="seconds a read run may take (at least 5 requests)")
    parser.add_argument("--ingest-batches", type=int, default=20, help="1,000-log batches per ingest run")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--extra", nargs="*", default=EXTRA_MODULES, metavar="MODULE",
                        help="benchmark modules run after the reads and ingest (default: all; none: --extra)")
    args = parser.parse_args()

    env = server_env(args.database_url, args.redis_url, ROOT / "var" / "bench_static")
    os.environ.update(env)
    dataset = {k: getattr(args, k) for k in DATASET}
    print(f"bench suite: dataset in {args.database_url.rsplit('/', 1)[1]} ...", flush=True)
    cookie, token, workflow = prepare(args.database_url, dataset)
    collect_static(env)
    # Production's server (python -m config.serve, docs/serving.md): 2 uvicorn worker processes on
    # one port; the ingest's 2 client threads share it as the workers share their connections.
    with open(ROOT / "var" / "bench_server.log", "ab") as log:
        port, processes = bench_post.start_server("serve2", str(ROOT), env, log)
    urls = [f"http://127.0.0.1:{port}"] * 2
    try:
        print(f"measuring over HTTP against config.serve, 2 workers (DEBUG off), {args.runs} runs each:", flush=True)
        rows = run_suite(urls, cookie, token, workflow, args.database_url, runs=args.runs,
                         requests_per_run=args.requests, warmup=args.warmup, budget_seconds=args.budget,
                         ingest_batches=args.ingest_batches, progress=lambda line: print(line, flush=True))
        ctx = {"database_url": args.database_url, "redis_url": args.redis_url, "env": env,
               "server_urls": urls, "token": token, "runs": args.runs}
        rows += run_extra(ctx, args.extra, progress=lambda line: print(line, flush=True))
    finally:
        bench_post.stop(processes)
    print()
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"dataset": dataset, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
