"""`make bench`: how long an event posted over REST takes to reach open websockets, through a real
Daphne process with production settings (DEBUG off) and the Redis channel layer. Prints the median
and p95 of POST start -> message received, over every (event, socket) pair; the target is a
median under 30 ms on the machine it runs on. Numbers, not assertions.

Run from the Makefile's bench target (DATABASE_URL, SECRET_KEY set there). It starts a private
redis-server on a free port, so it never shares a channel layer with tests or a running server.
BENCH_SOCKETS and BENCH_EVENTS change the 50 sockets and 200 events."""

import json
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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/daphne_server.py runs the server

SOCKETS = int(os.environ.get("BENCH_SOCKETS", 50))
EVENTS = int(os.environ.get("BENCH_EVENTS", 200))
WARM_UP = 10
TARGET_MEDIAN_MS = 30


def private_redis():
    """A throwaway redis-server on a free port: (process, url)."""
    from daphne_server import free_port

    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
            return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def prepare_database():
    """A team, a viewer with a session (the sockets' cookie) and a service token (the posts)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from monitoring.models import Membership, ServiceToken, Team

    team, _ = Team.objects.get_or_create(slug="bench-live", defaults={"name": "Bench live"})
    user, _ = get_user_model().objects.get_or_create(username="bench-live-viewer")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": "viewer"})
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}", ServiceToken.issue(team, "bench-live")[1]


class Socket(threading.Thread):
    """One websocket reader: when each log message arrived (perf_counter), acknowledged as pages do."""

    def __init__(self, url, cookie, origin):
        import websocket

        super().__init__(daemon=True)
        self.ws = websocket.create_connection(url, cookie=cookie, origin=origin, timeout=10)
        self.arrivals, self.stop = {}, False

    def run(self):
        import websocket

        self.ws.settimeout(0.25)
        unacked, acked_at = 0, time.monotonic()
        while not self.stop:
            try:
                message = json.loads(self.ws.recv())
                now = time.perf_counter()
                unacked += 1
                if message["type"] == "log":
                    self.arrivals[message["data"]["message"]] = now
            except websocket.WebSocketTimeoutException:
                pass
            except websocket.WebSocketConnectionClosedException:
                return
            if unacked and time.monotonic() - acked_at > 0.25:
                self.ws.send(json.dumps({"type": "ack", "count": unacked}))
                unacked, acked_at = 0, time.monotonic()


def post_log(server, token, message, execution):
    body = {"workflow_id": "wf-bench", "execution_id": execution, "log_level": "info", "message": message}
    request = urllib.request.Request(f"{server.url}/api/workflows/monitoring?type=log", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server, cookie, token):
    sockets = [Socket(f"{server.ws_url}/ws/monitoring/", cookie, server.url) for _ in range(SOCKETS)]
    for s in sockets:
        s.start()
    time.sleep(0.5)  # every socket subscribed
    latencies, slowest, rest = [], [], []
    for i in range(WARM_UP + EVENTS):
        if i == WARM_UP:
            cpu_before = cpu_seconds(server.process.pid)
        message = f"bench {i}"
        started = time.perf_counter()
        post_log(server, token, message, execution=f"e-{i // 20}")
        answered = time.perf_counter()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not all(message in s.arrivals for s in sockets):
            time.sleep(0.001)
        if i < WARM_UP:
            continue
        arrived = [s.arrivals[message] - started for s in sockets if message in s.arrivals]
        latencies += arrived
        slowest.append(max(arrived) if len(arrived) == SOCKETS else float("inf"))
        rest.append(answered - started)
        time.sleep(0.01)
    server_cpu_ms = (cpu_seconds(server.process.pid) - cpu_before) * 1000 / EVENTS
    for s in sockets:
        s.stop = True
    missing = EVENTS * SOCKETS - len(latencies)
    return (sorted(x * 1000 for x in latencies), sorted(x * 1000 for x in slowest), sorted(x * 1000 for x in rest),
            missing, server_cpu_ms)


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    redis, os.environ["REDIS_URL"] = private_redis()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    static_root = tempfile.mkdtemp(prefix="flowtower-bench-static-")
    env = {"STATIC_ROOT": static_root, "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                       env={**os.environ, **env}, check=True)
        cookie, token = prepare_database()
        from daphne_server import DaphneServer

        server = DaphneServer(env=env).start()
        latencies, slowest, rest, missing, server_cpu_ms = measure(server, cookie, token)
    finally:
        if server is not None:
            server.stop()
        redis.terminate()
        shutil.rmtree(static_root, ignore_errors=True)
    median = statistics.median(latencies)
    print(f"REST POST -> websocket, {SOCKETS} sockets, {EVENTS} events (Daphne, Redis layer, DEBUG off):")
    print(f"  per socket          median {median:6.1f} ms  p95 {pct(latencies, 95):6.1f} ms  max {latencies[-1]:6.1f} ms")
    print(f"  last of {SOCKETS} sockets   median {statistics.median(slowest):6.1f} ms  p95 {pct(slowest, 95):6.1f} ms")
    print(f"  POST answered       median {statistics.median(rest):6.1f} ms  p95 {pct(rest, 95):6.1f} ms")
    print(f"  server CPU per event {server_cpu_ms:5.1f} ms (the POST and {SOCKETS} deliveries; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring)")
    verdict = "met" if median < TARGET_MEDIAN_MS and not missing else "NOT met"
    print(f"  target median < {TARGET_MEDIAN_MS} ms: {verdict}" + (f" ({missing} deliveries missing)" if missing else ""))


if __name__ == "__main__":
    main()
