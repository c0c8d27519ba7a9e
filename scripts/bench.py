"""`make bench`: ingest and read latencies through the real REST stack against a throwaway
PostgreSQL database. Prints numbers; the roadmap's targets will be asserted here, not in tests.

Run through manage.py shell so settings load: see the Makefile's bench target."""

import statistics
import time

from rest_framework.test import APIClient

from monitoring import ingest as ingest_module
from monitoring.models import ErrorGroup, ExecutionLog, ServiceToken, Team

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
# Errors are filed under their groups as they are written: a batch of 1,000 errors (10 workflows,
# 4 kinds of message whose ids and numbers vary, 100 executions) and, measured in the same
# batches, what filing them cost (monitoring.ingest_errors.file_errors: its two statements).
filing = []
_file_errors = ingest_module.file_errors


def timed_file_errors(*args, **kwargs):
    start = time.perf_counter()
    try:
        return _file_errors(*args, **kwargs)
    finally:
        filing.append((time.perf_counter() - start) * 1000)


ingest_module.file_errors = timed_file_errors
MESSAGES = ["Invalid payload: missing customer_id in record {i}",
            "Timeout after {i} ms calling https://api.example.com/v1/x?id={i}",
            "Row {i} rejected: duplicate key 'k-{i}'", "The service refused the connection - perhaps it is offline"]
errors = [{"workflow_id": f"wf-{i % 10}", "execution_id": f"err-{i % 100}", "error_type": "data", "severity": "high",
           "node_name": f"Node {i % 3}", "error_message": MESSAGES[i % 4].format(i=i)} for i in range(1000)]
grouped = timed(lambda: client.post(f"{URL}?type=batch", {"errors": errors}, format="json"), 10)
ingest_module.file_errors = _file_errors
print(f"batch of 1000 errors median {statistics.median(grouped):7.1f} ms  of which grouping "
      f"{statistics.median(filing):5.1f} ms ({ErrorGroup.objects.filter(team=team).count()} groups)")
single = timed(lambda: client.post(f"{URL}?type=log", logs[0], format="json"), 300)
print(f"single log POST      p50 {pct(single, 50):6.1f} ms  p99 {pct(single, 99):6.1f} ms")
for kind in ("dashboard", "logs", "live-status&workflow_id=wf-1"):
    reads = timed(lambda: client.get(f"{URL}?type={kind}"), 100)
    print(f"GET {kind:<24} p50 {pct(reads, 50):6.1f} ms  p95 {pct(reads, 95):6.1f} ms")
print(f"({ExecutionLog.objects.count():,} logs stored; in-process client, no network)")
