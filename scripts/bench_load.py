"""`make bench` load check: one Daphne process (production settings, DEBUG off) on a private
PostgreSQL and redis-server, 50 concurrent clients posting logs and reading them for 60 s.

Reports the 5xx count (must be 0), the most PostgreSQL connections seen against the pool's
maximum (DB_POOL_MAX_SIZE), the server's resident memory at the start, middle and end (flat
means no leak per request), throughput and latencies. Exits 1 if a 5xx was answered, the pool's
maximum was exceeded or an acknowledged post is missing from the database: numbers to read,
plus the three promises the README makes about load.

    .venv/bin/python scripts/bench_load.py [--clients 50] [--seconds 60] [--pool-max 10]
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

# The process management and clients are shared with the fault tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fault"))

from load import Recorder, join_all, posting_loop, run_threads  # noqa: E402
from servers import Stack  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def sample(stack, server, connections, memory, stop, pool_max, excess):
    """Connections of the app's database every 100 ms (not counting this one); RSS every second.
    Above the pool's maximum, what each connection was doing goes to `excess`, to explain it."""
    with stack.db() as conn:
        last_rss = 0.0
        while not stop.wait(0.1):
            connections.append(stack.pg.connections(stack.DBNAME, conn))
            if connections[-1] > pool_max and len(excess) < 3:
                excess.append(conn.execute(
                    "SELECT pid, backend_start, state, wait_event, left(query, 50) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                    "ORDER BY backend_start", [stack.DBNAME]).fetchall())
            if time.monotonic() - last_rss >= 1:
                memory.append((time.monotonic(), server.rss_mb()))
                last_rss = time.monotonic()


def stored_messages(stack, prefix):
    with stack.db() as conn:
        rows = conn.execute("SELECT message FROM monitoring_executionlog WHERE message LIKE %s", [prefix + "-%"])
        return {m for (m,) in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pool-max", type=int, default=10, help="DB_POOL_MAX_SIZE of the server (default 10)")
    args = parser.parse_args()

    print("load check: starting private PostgreSQL, Redis and Daphne ...", flush=True)
    stack = Stack().start()
    try:
        # No rate limit in the way: the point is what the server and the pool do under load.
        server = stack.daphne(DB_POOL_MAX_SIZE=args.pool_max, FLOWTOWER_THROTTLE_TOKEN="100000000/min",
                              LOG_LEVEL="WARNING")
        recorder, stop, sampling_stop = Recorder(), threading.Event(), threading.Event()
        connections, memory, excess = [], [(time.monotonic(), server.rss_mb())], []
        sampler = threading.Thread(target=sample, daemon=True,
                                   args=(stack, server, connections, memory, sampling_stop, args.pool_max, excess))
        sampler.start()
        started = time.monotonic()
        clients = run_threads(args.clients, posting_loop(server.url, stack.token, recorder, "bench", read_every=1), stop)
        stop.wait(args.seconds)
        stop.set()
        stuck = join_all(clients, timeout=60)
        elapsed = time.monotonic() - started
        memory.append((time.monotonic(), server.rss_mb()))
        sampling_stop.set()
        sampler.join(10)

        outcomes = recorder.outcomes
        errors = recorder.server_errors()
        unanswered = [o for o in outcomes if o.status is None]
        acknowledged = {o.message for o in recorder.posts() if o.acknowledged}
        lost = acknowledged - stored_messages(stack, "bench")
        posts = [o.seconds * 1000 for o in outcomes if o.method == "POST" and o.status is not None]
        reads = [o.seconds * 1000 for o in outcomes if o.method == "GET" and o.status is not None]
        mid = min(memory, key=lambda m: abs(m[0] - (started + args.seconds / 2)))[1]
        rss_start, rss_end = memory[0][1], memory[-1][1]
        peak = max(connections) if connections else 0

        print(f"{args.clients} clients for {elapsed:.0f} s against one Daphne process: {len(outcomes):,} requests "
              f"({len(outcomes) / elapsed:,.0f}/s), statuses {dict(sorted(recorder.statuses().items(), key=str))}")
        print(f"POST p50 {percentile(posts, 50):6.0f} ms  p95 {percentile(posts, 95):6.0f} ms  "
              f"p99 {percentile(posts, 99):6.0f} ms   ({len(posts):,})")
        print(f"GET  p50 {percentile(reads, 50):6.0f} ms  p95 {percentile(reads, 95):6.0f} ms  "
              f"p99 {percentile(reads, 99):6.0f} ms   ({len(reads):,})")
        print(f"5xx answers: {len(errors)}   no answer: {len(unanswered)}   clients stuck: {len(stuck)}")
        print(f"PostgreSQL connections: max {peak} (pool maximum {args.pool_max}), "
              f"median {statistics.median(connections) if connections else 0:.0f}, {len(connections)} samples")
        for snapshot in excess:
            print(f"  {len(snapshot)} connections at once:", *(f"    {row}" for row in snapshot), sep="\n")
        print(f"server RSS: start {rss_start:.0f} MB, middle {mid:.0f} MB, end {rss_end:.0f} MB "
              f"(middle to end {rss_end - mid:+.0f} MB)")
        print(f"acknowledged posts: {len(acknowledged):,}, missing from the database: {len(lost)}")
        failures = [what for what, bad in [
            ("5xx answers", errors), ("requests without an answer", unanswered),
            (f"more than {args.pool_max} connections", peak > args.pool_max), ("acknowledged posts lost", lost),
        ] if bad]
        print("load check: " + ("FAILED: " + ", ".join(failures) if failures else "OK"))
        return 1 if failures else 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
