"""HTTP serving benchmarks of the scale suite: single-log POSTs under wrk at a steady rate, and REST
POST -> websocket delivery at 50 and 500 sockets. Each starts the servers it measures, as
production runs them (DEBUG off, the Redis cache and channel layer):

- single-log POST: `POST /api/workflows/monitoring?type=log`, one log per request, wrk's Lua script
  paced at RATE requests/s over CONNECTIONS connections (scripts/bench_post.py's), against the HTTP
  server the README runs in production (gunicorn, see docs/serving.md); figure: requests/s achieved,
  wrk's p99, non-2xx answers and socket errors;
- REST POST -> websocket: SOCKETS sockets open on one Daphne process (the websocket server), a
  viewer's session each, on /ws/monitoring/; one log posted at a time over REST to the HTTP
  server; the latency of each (event, socket) pair from the POST's start to the message's arrival.
  The sockets are read by several client processes (threads each), so that the client's own Python
  is not what is measured; arrival times are CLOCK_MONOTONIC, comparable across processes.

Runnable alone (a database it migrates and fills with one team, a viewer and a token):

    .venv/bin/python scripts/bench_scale_http.py --database-url postgres://…/flowtower_bench_x \\
        --redis-url redis://127.0.0.1:6379/8 [--runs 3] [--seconds 15] [--sockets 50 500]

Needs wrk (`apt-get install -y wrk`; the script says so when it is missing).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "tests")]

import bench_post  # noqa: E402  (scripts/: wrk's script, its runner and the server starters)

RATE = 500  # requests/s
CONNECTIONS = 16
P99_TARGET_MS = 25
DELIVERY_P95_TARGET_MS = 100
EVENTS = 100  # posted one at a time per websocket run
WARM_UP = 10
POST_WORKFLOW = "bench-http-wf"  # the single-log POSTs' workflow, deleted afterwards
VIEWER = "bench-http-viewer"
TREE = ROOT  # the code tree the servers run (--tree: another checkout, for before/after)
HTTP_SERVER = "serve2"  # bench_post's name for production's server (python -m config.serve) with 2 workers


def single_post_row(env, token, runs, seconds, rate=RATE, connections=CONNECTIONS, server=HTTP_SERVER):
    """wrk paced at `rate` against the HTTP server; the median run by p99."""
    if not shutil.which("wrk"):
        return (f"single-log POST, wrk, {connections} connections", "wrk missing: apt-get install -y wrk",
                f"p99 < {P99_TARGET_MS} ms at {rate} req/s, 0 errors", None)
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(bench_post.WRK_SCRIPT.replace("bench-wf", POST_WORKFLOW))
    results = []
    with open(Path(tempfile.gettempdir()) / "bench-scale-http-server.log", "ab") as log:
        port, processes = bench_post.start_server(server, str(TREE), env, log)
    try:
        bench_post.run_wrk(port, 2, 3, token, str(script))  # pools filled, code paths warm
        for _ in range(runs):
            figures, _ = bench_post.run_wrk(port, connections, seconds, token, str(script), rate)
            results.append(figures)
    finally:
        bench_post.stop(processes)
        script.unlink()
    middle = sorted(results, key=lambda f: f["p99"])[len(results) // 2]
    errors = middle["non2xx"] + _socket_error_count(middle["socket_errors"])
    met = middle["p99"] < P99_TARGET_MS and middle["rps"] >= rate * 0.97 and errors == 0
    return (f"single-log POST, wrk, {connections} connections",
            f"{middle['rps']:.0f} req/s, p99 {middle['p99']:.1f} ms, {errors} errors",
            f"p99 < {P99_TARGET_MS} ms at {rate} req/s, 0 errors", met)


def _socket_error_count(text):
    """wrk's "connect 0, read 0, write 0, timeout 0" as one number."""
    return sum(int(part.split()[-1]) for part in text.split(",") if part.strip()) if text else 0


# --- REST POST -> websocket -------------------------------------------------------------------


def _reader_process(url, cookie, origin, count, ready, arrivals_out, stop):
    """A client process: `count` sockets, a thread each; when each log message arrived, sent back
    at the end as {message: [arrival, …]}."""
    import websocket

    arrivals, lock = {}, threading.Lock()
    sockets = [websocket.create_connection(url, cookie=cookie, origin=origin, timeout=10) for _ in range(count)]

    def read(ws):
        ws.settimeout(0.25)
        unacked, acked_at = 0, time.monotonic()
        while not stop.is_set():
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                message = None
            except (websocket.WebSocketConnectionClosedException, OSError):
                return
            if message is not None:
                now = time.perf_counter()
                unacked += 1
                if message["type"] == "log":
                    with lock:
                        arrivals.setdefault(message["data"]["message"], []).append(now)
            if unacked and time.monotonic() - acked_at > 0.25:  # acknowledged as pages do
                ws.send(json.dumps({"type": "ack", "count": unacked}))
                unacked, acked_at = 0, time.monotonic()

    threads = [threading.Thread(target=read, args=(ws,), daemon=True) for ws in sockets]
    for t in threads:
        t.start()
    ready.release()
    stop.wait()
    for t in threads:
        t.join(2)
    arrivals_out.send(arrivals)
    for ws in sockets:
        ws.close()


def _post_log(url, token, message, execution):
    body = {"workflow_id": POST_WORKFLOW, "execution_id": execution, "log_level": "info", "message": message}
    request = urllib.request.Request(f"{url}/api/workflows/monitoring?type=log", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def measure_delivery(http_url, ws_url, cookie, token, sockets, events=EVENTS, processes=None):
    """Latencies (ms) of every (event, socket) pair, and how many never arrived."""
    processes = processes or min(8, max(1, sockets // 50))
    context = multiprocessing.get_context("spawn")
    stop, ready = context.Event(), context.Semaphore(0)
    readers, pipes = [], []
    for i in range(processes):
        count = sockets // processes + (1 if i < sockets % processes else 0)
        receive, send = context.Pipe(duplex=False)
        p = context.Process(target=_reader_process, daemon=True,
                            args=(f"{ws_url}/ws/monitoring/", cookie, http_url, count, ready, send, stop))
        p.start()
        readers.append(p)
        pipes.append(receive)
    try:
        for _ in readers:
            if not ready.acquire(timeout=120):
                raise RuntimeError("websocket clients did not connect")
        time.sleep(1)  # every socket subscribed
        tag = f"{time.time():.0f}"
        started = {}
        for i in range(WARM_UP + events):
            message = f"bench-http {tag} {i}"
            started[message] = time.perf_counter()
            _post_log(http_url, token, message, execution=f"bench-http-e-{tag}-{i // 20}")
            # One event in flight at a time: its deliveries are measured, not a queue of them.
            time.sleep(0.05 + sockets / 2000)
    finally:
        time.sleep(1)
        stop.set()
    arrivals = {}
    for pipe, p in zip(pipes, readers):
        for message, times in (pipe.recv() if pipe.poll(30) else {}).items():
            arrivals.setdefault(message, []).extend(times)
        p.join(10)
    measured = [m for i, m in enumerate(started) if i >= WARM_UP]
    latencies = sorted((t - started[m]) * 1000 for m in measured for t in arrivals.get(m, []))
    return latencies, events * sockets - len(latencies)


def _pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def delivery_rows(env, token, cookie, runs, socket_counts=(50, 500), server=HTTP_SERVER):
    """The sockets and the POSTs on one server setup (bench_post's names: serveN, daphne, …)."""
    rows = []
    with open(Path(tempfile.gettempdir()) / "bench-scale-http-server.log", "ab") as log:
        port, processes = bench_post.start_server(server, str(TREE), env, log)
    try:
        for sockets in socket_counts:
            p50s, p95s, missing = [], [], 0
            for _ in range(runs):
                latencies, lost = measure_delivery(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", cookie,
                                                   token, sockets)
                p50s.append(statistics.median(latencies))
                p95s.append(_pct(latencies, 95))
                missing += lost
            p50, p95 = statistics.median(p50s), statistics.median(p95s)
            rows.append((f"REST POST → websocket, {sockets} sockets",
                         f"p50 {p50:.0f} ms / p95 {p95:.0f} ms" + (f", {missing} not delivered" if missing else ""),
                         f"p95 < {DELIVERY_P95_TARGET_MS} ms", p95 < DELIVERY_P95_TARGET_MS and not missing))
    finally:
        bench_post.stop(processes)
    return rows


def viewer_cookie(team_slug):
    """A session of a viewer of `team_slug` (Django set up on the bench database, same SECRET_KEY
    as the servers)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from monitoring.models import Membership, Team

    user, _ = get_user_model().objects.get_or_create(username=VIEWER)
    Membership.objects.get_or_create(team=Team.objects.get(slug=team_slug), user=user, defaults={"role": "viewer"})
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def cleanup():
    """The rows these benchmarks added: the posted workflow's logs, executions and the workflow."""
    from monitoring.models import Workflow

    Workflow.objects.filter(external_id=POST_WORKFLOW).delete()


def run(ctx, seconds=15, socket_counts=(50, 500), server=HTTP_SERVER, post=True):
    """The suite's entry point: rows (name, figure, target, met)."""
    from monitoring.models import ServiceToken, hash_token

    team = ServiceToken.objects.select_related("team").get(token_hash=hash_token(ctx["token"])).team
    cookie = viewer_cookie(team.slug)  # sees what the token posts
    try:
        rows = [single_post_row(ctx["env"], ctx["token"], ctx.get("runs", 3), seconds, server=server)] if post else []
        rows += delivery_rows(ctx["env"], ctx["token"], cookie, ctx.get("runs", 3), socket_counts, server=server)
    finally:
        cleanup()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="seconds of each wrk run")
    parser.add_argument("--sockets", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--server", default=HTTP_SERVER, help="bench_post's server names: serveN (production), "
                        "daphne (one Daphne process, as before), uvicornN, gunicornNxT")
    parser.add_argument("--skip-post", action="store_true", help="only the websocket rows")
    parser.add_argument("--tree", type=Path, help="run the servers from this checkout (e.g. a git worktree)")
    args = parser.parse_args()
    from bench_suite import collect_static, format_table, server_env

    global TREE
    TREE = (args.tree or ROOT).resolve()
    env = server_env(args.database_url, args.redis_url, ROOT / "var" / "bench_static")
    env["PYTHONPATH"] = str(TREE)
    os.environ.update(env)
    name = args.database_url.rsplit("/", 1)[1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, cwd=ROOT)
    collect_static(env)
    import django

    django.setup()
    from monitoring.models import ServiceToken, Team

    team, _ = Team.objects.get_or_create(slug="bench-1", defaults={"name": "Bench 1"})
    ServiceToken.objects.filter(name="bench-scale-http").delete()
    token = ServiceToken.issue(team, "bench-scale-http")[1]
    rows = run({"database_url": args.database_url, "redis_url": args.redis_url, "env": env, "server_urls": [],
                "token": token, "runs": args.runs}, seconds=args.seconds, socket_counts=tuple(args.sockets),
               server=args.server, post=not args.skip_post)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
