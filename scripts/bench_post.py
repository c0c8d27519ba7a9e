"""Single-log POST cost: Flowtower as production runs it (DEBUG off, PostgreSQL, Redis, collected
static files) under wrk, one log per request, at several connection counts; optionally py-spy
samples the server meanwhile.

Several code trees can be measured side by side in one run (e.g. a `git worktree` of the commit
before a change and the working tree), each against the same database and Redis, one after the
other, for the same time each:

    .venv/bin/python scripts/bench_post.py --tree before=/tmp/hotpath-before --tree after=. \\
        --server daphne --connections 4 16 --seconds 15 [--profile /tmp/prof]

Servers: daphne (one process), daphneN (N Daphne processes sharing one listening socket, as
supervisord's fcgi-program would), uvicornN (uvicorn --workers N, ASGI), serveN (production's
`python -m config.serve --workers N`, docs/serving.md), gunicornN[xT] (gunicorn,
N WSGI worker processes of T threads). --rate R paces wrk at R requests/s in all (the target's
"p99 at 500 requests/s"); without it wrk sends as fast as the connections are answered.
DATABASE_URL and REDIS_URL name the (throwaway) database and Redis database to use; the database is
migrated and a team with a service token is created in it. Needs wrk (apt-get install wrk).
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"

# One log per request, each with a message of its own (thread id and counter).
WRK_SCRIPT = """
local counter = 0
local tid = 0
local threads = {}
function setup(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
-- Paced when FLOWTOWER_BENCH_RATE (requests/s, all threads) is set: each thread sends at fixed
-- intervals (a request whose slot has passed goes at once), so the server sees a steady rate
-- instead of as many requests as it can answer.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } timeval;
int gettimeofday(timeval *tv, void *tz);
]]
local tv = ffi.new("timeval")
local function now_ms() ffi.C.gettimeofday(tv, nil); return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000 end
local interval = nil
local next_at = nil
function init(args)
  local rate = tonumber(os.getenv("FLOWTOWER_BENCH_RATE") or "")
  local nthreads = tonumber(os.getenv("FLOWTOWER_BENCH_THREADS") or "1")
  if rate and rate > 0 then interval = 1000 * nthreads / rate end
end
function delay()
  if not interval then return 0 end
  local now = now_ms()
  if not next_at or next_at < now - interval then next_at = now end
  local wait = next_at - now
  next_at = next_at + interval
  return math.max(0, math.floor(wait))
end
function request()
  counter = counter + 1
  local body = '{"workflow_id":"bench-wf","execution_id":"bench-ex-' .. tid .. '","log_level":"info",' ..
               '"message":"bench ' .. tid .. '-' .. counter .. '","metadata":{"step":' .. counter .. '}}'
  return wrk.format("POST", "/api/workflows/monitoring?type=log", {
    ["Authorization"] = "Bearer " .. os.getenv("FLOWTOWER_BENCH_TOKEN"),
    ["Content-Type"] = "application/json",
  }, body)
end
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
"""


def production_env(tree, static_root, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DB_", "FLOWTOWER_", "CELERY_", "SECURE_", "SESSION_", "CSRF_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(tree), "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": str(static_root), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
        # Limits counted (the throttle's cost is part of the figure) but not reached.
        "FLOWTOWER_THROTTLE_TOKEN": "100000000/min",
    })
    env.update(extra)
    return env


def manage(tree, env, *args, **kwargs):
    return subprocess.run([str(VENV / "python"), str(Path(tree) / "manage.py"), *args], cwd=tree, env=env,
                          check=True, capture_output=True, text=True, **kwargs)


def prepare(tree, env):
    """Migrate, and a bench team with a fresh service token; returns the raw token."""
    manage(tree, env, "migrate", "-v0")
    code = ("from monitoring.models import Team, ServiceToken\n"
            "team, _ = Team.objects.get_or_create(slug='bench', defaults={'name': 'Bench'})\n"
            "print(ServiceToken.issue(team, 'bench')[1])")
    return manage(tree, env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def wait_listening(port, processes, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"server exited with {p.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def start_server(kind, tree, env, log):
    """Returns (port, [processes]) once the server answers."""
    processes = []
    count = int(re.sub(r"\D", "", kind.partition("x")[0]) or 1)
    if kind.startswith("daphne"):
        # N processes accept on one inherited socket (daphne --fd).
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        port = sock.getsockname()[1]
        for _ in range(count):
            processes.append(subprocess.Popen(
                [str(VENV / "daphne"), "-v", "0", "--fd", str(sock.fileno()), "config.asgi:application"],
                cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[sock.fileno()]))
        sock.close()
    elif kind.startswith("uvicorn"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        processes.append(subprocess.Popen(
            [str(VENV / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--workers", str(count),
             "--no-access-log", "--log-level", "warning", "--lifespan", "off", "config.asgi:application"],
            cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT))
    elif kind.startswith("serve"):
        # serveN: production's server (python -m config.serve, docs/serving.md) with N workers.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        processes.append(subprocess.Popen(
            [str(VENV / "python"), "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(count)], cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT))
    elif kind.startswith("gunicorn"):
        # gunicornN or gunicornNxT: N WSGI worker processes of T threads each (gthread worker).
        workers, _, threads = kind.removeprefix("gunicorn").partition("x")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        processes.append(subprocess.Popen(
            [str(VENV / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", workers or "1",
             "--worker-class", "gthread", "--threads", threads or "4", "--log-level", "warning",
             "config.wsgi:application"],
            cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT))
    else:
        raise SystemExit(f"unknown server {kind}")
    wait_listening(port, processes)
    return port, processes


def server_pids(processes):
    """The processes that serve requests: uvicorn's workers are children of its supervisor."""
    pids = []
    for p in processes:
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        pids.extend(int(c) for c in children) if children else pids.append(p.pid)
    return pids


def cpu_seconds(pids):
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def stop(processes):
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_wrk(port, connections, seconds, token, script, rate=None):
    """wrk for `seconds`; with `rate`, paced at that many requests per second in all (the Lua
    script's delay()), else as fast as `connections` connections get answers."""
    threads = min(connections, 2)
    env = {**os.environ, "FLOWTOWER_BENCH_TOKEN": token, "FLOWTOWER_BENCH_THREADS": str(threads),
           "FLOWTOWER_BENCH_RATE": str(rate or "")}
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script,
         f"http://127.0.0.1:{port}/"],
        env=env, capture_output=True, text=True, check=True).stdout
    try:
        return parse_wrk(out), out
    except (KeyError, AttributeError):
        raise RuntimeError(f"wrk output not understood:\n{out}")


def _ms(value):
    number, unit = float(re.match(r"[\d.]+", value).group()), re.search(r"[a-z]+$", value).group()
    return number * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(out):
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(pct["50"]), "p99": _ms(pct["99"]),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="name=path of a code tree (repeatable)")
    parser.add_argument("--server", action="append", default=[], help="daphne, daphneN, uvicornN, serveN, gunicornN[xT] (repeatable)")
    parser.add_argument("--rate", type=int, help="requests/s in all, paced (default: as fast as answered)")
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", help="directory: py-spy samples each run's server into <dir>/<run>.txt")
    parser.add_argument("--gil", action="store_true", help="py-spy samples only the thread holding the GIL "
                        "(where the CPU goes, not where threads wait)")
    args = parser.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["working tree", str(ROOT)]]
    servers = args.server or ["daphne"]
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    static_root = Path(tempfile.mkdtemp(prefix="bench-post-static-"))
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    rows = []
    try:
        for name, tree in trees:
            tree = str(Path(tree).resolve())
            env = production_env(tree, static_root)
            manage(tree, env, "collectstatic", "--noinput", "-v0")
            token = prepare(tree, env)
            for kind in servers:
                with open(static_root / f"{name}-{kind}.log", "ab") as log:
                    port, processes = start_server(kind, tree, env, log)
                try:
                    run_wrk(port, 2, args.warmup, token, str(script))  # pools filled, code paths warm
                    for connections in args.connections:
                        spy = None
                        if args.profile:
                            Path(args.profile).mkdir(parents=True, exist_ok=True)
                            out = Path(args.profile) / f"{name}-{kind}-c{connections}".replace(" ", "_")
                            pid = server_pids(processes)[0]
                            spy = subprocess.Popen(
                                [str(VENV / "py-spy"), "record", "-p", str(pid), "-d", str(args.seconds), "-r", "200",
                                 "-f", "raw", "-o", f"{out}.txt", "--nonblocking", *(["--gil"] if args.gil else [])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        pids = server_pids(processes)
                        cpu_before = cpu_seconds(pids)
                        figures, raw = run_wrk(port, connections, args.seconds, token, str(script), args.rate)
                        # Server CPU per request: below 100 % per process while latency grows means
                        # waiting (round trips, the GIL handed between threads), not computing.
                        figures["cpu_ms"] = (cpu_seconds(pids) - cpu_before) * 1000 / max(1, figures["rps"] * args.seconds)
                        figures["cpu_pct"] = (cpu_seconds(pids) - cpu_before) * 100 / args.seconds
                        if spy:
                            spy.wait(60)
                        rows.append((name, kind, connections, figures))
                        print(f"{name:>12} {kind:>9} c={connections:<3} {figures['rps']:8.1f} req/s  "
                              f"p50 {figures['p50']:7.1f} ms  p99 {figures['p99']:7.1f} ms  "
                              f"CPU {figures['cpu_pct']:4.0f} % ({figures['cpu_ms']:.1f} ms/request)  "
                              f"non-2xx {figures['non2xx']}  {figures['socket_errors']}", flush=True)
                finally:
                    stop(processes)
    finally:
        script.unlink()
    print("\n| code | server | connections | requests/s | p50 ms | p99 ms | server CPU | CPU ms/request | non-2xx |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, kind, connections, f in rows:
        print(f"| {name} | {kind} | {connections} | {f['rps']:.0f} | {f['p50']:.1f} | {f['p99']:.1f} | "
              f"{f['cpu_pct']:.0f} % | {f['cpu_ms']:.1f} | {f['non2xx']} |")


if __name__ == "__main__":
    sys.exit(main())
