"""Retention while ingest runs: `manage.py prune --days 1` on a copy of the scale dataset (everything
older than a day: ~9.7M logs, ~967k executions, ~194k errors, ~19k alerts at full size) while a
client posts 1,000-log batches to production's server (python -m config.serve, 2 workers, as the
suite runs it) on that same database; the prune's seconds and the batch ingest's p99 during the
prune against its p99 just before.

    .venv/bin/python scripts/bench_scale_retention.py --database-url postgres://…/flowtower_bench_x \
        --redis-url redis://127.0.0.1:6379/6 [--executions 100000 --logs 1000000 …]

Pruning destroys the data, so it never runs on the suite's database: the dataset is generated (or
reused, as bench_dataset decides) in <database>_retention_template and copied to
<database>_retention for each run (CREATE DATABASE … TEMPLATE, a file copy); the copy is dropped
afterwards. One run per invocation (a run consumes its copy); ctx["runs"] is not used.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_post  # noqa: E402  (starts production's server)
import bench_suite  # noqa: E402

TARGET_SECONDS = 60
TARGET_P99_RATIO = 2
BASELINE_SECONDS = 20
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def sibling(database_url, suffix):
    base, name = database_url.rsplit("/", 1)
    return f"{base}/{name}{suffix}", name + suffix


def psql_admin(*args):
    return subprocess.run([*args, "-h", "127.0.0.1", "-U", "postgres"], capture_output=True, text=True)


def prepare_copy(env, database_url, dataset, progress=print):
    """Generate or reuse the dataset in the template database, copy it; returns the copy's URL."""
    template_url, template = sibling(database_url, "_retention_template")
    copy_url, copy = sibling(database_url, "_retention")
    psql_admin("createdb", template)
    template_env = {**env, "DATABASE_URL": template_url}
    subprocess.run([*MANAGE, "migrate", "-v0"], check=True, cwd=ROOT, env=template_env)
    subprocess.run([*MANAGE, "bench_dataset", *[f"--{k}={v}" for k, v in dataset.items()]], check=True, cwd=ROOT,
                   env=template_env)
    psql_admin("dropdb", "--if-exists", copy)
    started = time.monotonic()
    done = psql_admin("createdb", "-T", template, copy)
    if done.returncode:
        raise RuntimeError(f"copying {template}: {done.stderr}")
    progress(f"  retention: dataset copied to {copy} in {time.monotonic() - started:.0f} s")
    return copy_url, copy


def issue_token(env):
    """A service token of team bench-1 in the copy (the suite's token is the suite database's)."""
    code = ("from monitoring.models import ServiceToken, Team; "
            "print(ServiceToken.issue(Team.objects.get(slug='bench-1'), 'bench-retention')[1])")
    out = subprocess.run([*MANAGE, "shell", "-c", code], check=True, cwd=ROOT, env=env, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


class Poster(threading.Thread):
    """Posts 1,000-log batches one after the other until stopped; keeps (start, seconds) of each."""

    def __init__(self, url, token):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.samples, self.failures = [], []
        self.stopping = threading.Event()

    def run(self):
        run_id = uuid.uuid4().hex[:8]
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {self.token}"
            b = 0
            while not self.stopping.is_set():
                batch = bench_suite.ingest_rows(f"{run_id}-{b}", 1, 1000)[0]
                started = time.monotonic()
                r = s.post(f"{self.url}{bench_suite.API}?type=batch", json={"logs": batch}, timeout=120)
                self.samples.append((started, time.monotonic() - started))
                if r.status_code >= 300:
                    self.failures.append(f"{r.status_code}: {r.text[:200]}")
                b += 1

    def p99_ms(self, since, until):
        times = [t for start, t in self.samples if since <= start < until]
        return bench_suite.percentile(times, 99) * 1000, len(times)


def prune(env):
    """`manage.py prune --days 1`: (seconds, rows deleted, output)."""
    started = time.monotonic()
    done = subprocess.run([*MANAGE, "prune", "--days", "1"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode:
        raise RuntimeError(f"prune failed: {done.stderr[-2000:]}")
    deleted = sum(int(n) for n in re.findall(r"^\w+: deleted (\d+)", done.stdout, re.M))
    return seconds, deleted, done.stdout


def measure(env, copy_url, progress=print):
    """Start a server on the copy, post batches for BASELINE_SECONDS, prune while posting."""
    env = {**env, "DATABASE_URL": copy_url}
    token = issue_token(env)
    with open(ROOT / "var" / "bench_retention_server.log", "ab") as log:
        port, processes = bench_post.start_server("serve2", str(ROOT), env, log)
    poster = Poster(f"http://127.0.0.1:{port}", token)
    try:
        poster.start()
        time.sleep(3)  # warm-up: connections, caches
        baseline_from = time.monotonic()
        time.sleep(BASELINE_SECONDS)
        prune_from = time.monotonic()
        seconds, deleted, output = prune(env)
        prune_until = time.monotonic()
    finally:
        poster.stopping.set()
        poster.join(120)
        bench_post.stop(processes)
    if poster.failures:
        raise RuntimeError(f"ingest failed during the benchmark: {poster.failures[0]}")
    before, n_before = poster.p99_ms(baseline_from, prune_from)
    during, n_during = poster.p99_ms(prune_from, prune_until)
    progress(f"  retention: {deleted:,} rows in {seconds:.1f} s; ingest p99 {before:.0f} ms before "
             f"({n_before} batches), {during:.0f} ms during ({n_during} batches)")
    for line in output.splitlines():
        progress(f"    {line}")
    return {"seconds": seconds, "deleted": deleted, "p99_before_ms": before, "p99_during_ms": during,
            "batches_before": n_before, "batches_during": n_during}


def rows(result):
    ratio = result["p99_during_ms"] / result["p99_before_ms"]
    return [
        (f"retention of {result['deleted']:,} expired rows while ingest runs", f"{result['seconds']:.1f} s",
         f"< {TARGET_SECONDS} s", result["seconds"] < TARGET_SECONDS),
        ("batch ingest p99 during retention / before",
         f"{ratio:.2f} × ({result['p99_during_ms']:.0f} / {result['p99_before_ms']:.0f} ms)",
         f"< {TARGET_P99_RATIO} ×", ratio < TARGET_P99_RATIO),
    ]


def suite_dataset(database_url):
    """The sizes the suite's own dataset was generated with (bench_dataset's marker), or None."""
    import psycopg

    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT params FROM bench_dataset_marker WHERE id = 1").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def run(ctx, dataset=None, progress=print):
    """The bench suite's entry point: a copy of a dataset of the suite's sizes (ctx["dataset"], else
    those its database was generated with, else the full sizes), pruned while ingest runs."""
    dataset = dataset or ctx.get("dataset") or suite_dataset(ctx["database_url"]) or bench_suite.DATASET
    copy_url, copy = prepare_copy(ctx["env"], ctx["database_url"], dataset, progress)
    try:
        return rows(measure(ctx["env"], copy_url, progress))
    finally:
        psql_admin("dropdb", "--if-exists", copy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    for key, value in bench_suite.DATASET.items():
        parser.add_argument(f"--{key}", type=int, default=value)
    args = parser.parse_args()
    env = bench_suite.server_env(args.database_url, args.redis_url, ROOT / "var" / "bench_static")
    os.environ.update(env)
    bench_suite.collect_static(env)
    dataset = {k: getattr(args, k) for k in bench_suite.DATASET}
    result = run({"env": env, "database_url": args.database_url}, dataset)
    print(bench_suite.format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
