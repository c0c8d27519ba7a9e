"""Batch ingest alone: the REST batch endpoint against a psycopg COPY of the same rows, as
scripts/bench_suite.py measures it (its ingest rows), without the reads, and optionally with a
py-spy profile of both Daphne processes while they ingest.

    .venv/bin/python scripts/bench_scale_ingest.py --database-url postgres://…/flowtower_bench_x \
        --redis-url redis://127.0.0.1:6379/7 [--runs 5] [--profile var/ingest-profile]

Standalone it creates/migrates/reuses the dataset as the suite does (small sizes by default: the
ingest figure does not depend on them), starts two Daphne processes with the production settings
and prints the suite's table rows for ingest. In the suite, `run(ctx)` measures against the
servers it already runs.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_suite  # noqa: E402
from daphne_server import DaphneServer  # noqa: E402

CPU_PER_1000 = []  # server CPU ms per 1,000 rows, per measured run (standalone runs)
SMALL = {"executions": 100_000, "logs": 1_000_000, "errors": 20_000, "alerts": 2_000}


def cpu_seconds(pids):
    """User + system CPU time the processes have used (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def measure(server_urls, token, database_url, runs, batches=20, progress=print, server_pids=()):
    """[(REST rows/s, COPY rows/s)] per run; the rows added are removed afterwards. With the
    servers' pids, also the servers' CPU per 1,000 rows (robust on a shared machine, where
    rates are not)."""
    results = []
    try:
        for _ in range(runs):
            cpu = cpu_seconds(server_pids) if server_pids else None
            rest, run_id, work = bench_suite.measure_batch_ingest(server_urls, token, batches)
            line = ""
            if server_pids:
                per_batch = (cpu_seconds(server_pids) - cpu) / sum(len(b) for b in work) * 1000 * 1000
                line = f", server CPU {per_batch:,.0f} ms per 1,000 rows"
                CPU_PER_1000.append(per_batch)
            copy = bench_suite.measure_copy(database_url, run_id, work)
            results.append((rest, copy))
            progress(f"  ingest: REST {rest:,.0f} rows/s, COPY {copy:,.0f} rows/s, ratio {rest / copy:.2f}{line}")
    finally:
        remove_ingested(database_url)
    return results


remove_ingested = bench_suite.remove_ingested


def rows(results):
    """The suite's ingest rows, plus the per-run ratios."""
    out = bench_suite.result_rows({}, [], results)
    ratios = ", ".join(f"{r / c:.2f}" for r, c in results)
    return out + [("ingest ratio per run", ratios, "", None)]


def run(ctx):
    """The bench suite's entry point: ingest rows measured against ctx's running servers."""
    return rows(measure(ctx["server_urls"], ctx["token"], ctx["database_url"], ctx.get("runs", 3)))


def profiled(servers, seconds, out_dir):
    """py-spy record of each server for `seconds`, started now (runs in the background)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = ROOT / ".venv" / "bin" / "py-spy"
    return [subprocess.Popen([str(spy), "record", "--pid", str(s.process.pid), "--duration", str(seconds),
                              "--rate", "200", "--gil", "--format", "raw", "-o", str(out_dir / f"daphne-{i}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, s in enumerate(servers)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    for key, value in {**bench_suite.DATASET, **SMALL}.items():
        parser.add_argument(f"--{key}", type=int, default=value)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20, help="1,000-log batches per run")
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles (raw folded stacks) of a "
                                                      "separate profiled run")
    args = parser.parse_args()

    env = bench_suite.server_env(args.database_url, args.redis_url, ROOT / "var" / "bench_static")
    os.environ.update(env)
    dataset = {k: getattr(args, k) for k in bench_suite.DATASET}
    _, token, _ = bench_suite.prepare(args.database_url, dataset)
    bench_suite.collect_static(env)
    servers = [DaphneServer(env=env) for _ in range(2)]
    try:
        for server in servers:
            server.start(timeout=60)
        measure([s.url for s in servers], token, args.database_url, 1, args.batches, progress=lambda _: None)  # warm
        if args.profile:
            spies = profiled(servers, 20, args.profile)
            measure([s.url for s in servers], token, args.database_url, 1, args.batches * 3)
            for spy in spies:
                spy.wait()
        CPU_PER_1000.clear()
        results = measure([s.url for s in servers], token, args.database_url, args.runs, args.batches,
                          server_pids=[s.process.pid for s in servers])
    finally:
        for server in servers:
            server.stop()
    print(bench_suite.format_table(rows(results)))
    print(f"median ratio {statistics.median(r / c for r, c in results):.2f}; server CPU per 1,000 rows: median "
          f"{statistics.median(CPU_PER_1000):,.0f} ms ({', '.join(f'{c:,.0f}' for c in CPU_PER_1000)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
