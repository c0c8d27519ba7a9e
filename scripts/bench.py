"""`make bench`: ingest and read latencies through the real REST stack against a throwaway
PostgreSQL database. Prints numbers; the roadmap's targets will be asserted here, not in tests.

Run through manage.py shell so settings load: see the Makefile's bench target."""

import statistics
import time

from rest_framework.test import APIClient

from monitoring.models import ExecutionLog, ServiceToken, Team

team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
client = APIClient()
client.credentials(HTTP_AUTHORIZATION=f"Bearer {ServiceToken.issue(team, 'bench')[1]}")
URL = "/api/workflows/monitoring"
logs = [{"workflow_id": f"wf-{i % 10}", "execution_id": f"e-{i % 100}", "log_level": "info", "message": "m" * 50,
         "metadata": {"i": i, "password": "masked"}} for i in range(1000)]


def timed(fn, n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return sorted(out)


def pct(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


batch = timed(lambda: client.post(f"{URL}?type=batch", {"logs": logs}, format="json"), 10)
print(f"batch of 1000 logs   median {statistics.median(batch):7.1f} ms  ({1000 / statistics.median(batch) * 1000:,.0f} rows/s)")
single = timed(lambda: client.post(f"{URL}?type=log", logs[0], format="json"), 300)
print(f"single log POST      p50 {pct(single, 50):6.1f} ms  p99 {pct(single, 99):6.1f} ms")
for kind in ("dashboard", "logs", "live-status&workflow_id=wf-1"):
    reads = timed(lambda: client.get(f"{URL}?type={kind}"), 100)
    print(f"GET {kind:<24} p50 {pct(reads, 50):6.1f} ms  p95 {pct(reads, 95):6.1f} ms")
print(f"({ExecutionLog.objects.count():,} logs stored; in-process client, no network)")
