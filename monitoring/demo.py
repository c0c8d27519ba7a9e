"""Demo data for `make run`: a team, users, a day of history and executions that keep arriving.

Everything is written through monitoring.ingest, the same path the REST API and the n8n mirror
use, so the demo exercises the real state rules, masking and events.
"""

import json
import random
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .api import token_cache  # revoked at once, in every process's token cache
from .error_groups import ignore_group, resolve_group
from .ingest import ingest
from .models import ErrorGroup, Execution, Membership, Role, ServiceToken, Team, Workflow
from .schemas import validate_records

DEMO_TEAM = "demo"
DEMO_TOKEN_NAME = "demo feed"


@dataclass(frozen=True)
class DemoWorkflow:
    external_id: str
    name: str
    nodes: tuple  # (node name, typical milliseconds)
    failure_rate: float
    # (node, error_type, severity, code, message): the message is a template whose {n}, {ms}, {id}
    # and {page} vary per failure, as real messages do, so the Errors page shows them grouped.
    failure: tuple
    minutes_saved: Decimal | None = None  # the team's estimate of the time one successful run saves
    runs_per_hour_before: int = 0  # runs an hour in the history older than a day (a schedule)
    # Live only: extra seconds in one node — the workflow got slower since the demo started, and
    # the anomaly rule explains it against its own 14-day history.
    live_slowdown: tuple | None = None


WORKFLOWS = [
    DemoWorkflow("wf-001", "Order sync", (("Webhook", 20), ("Fetch orders", 900), ("Transform", 150),
                                          ("Upsert CRM", 700), ("Notify Slack", 200)), 0.05,
                 ("Upsert CRM", "network", "high", "TIMEOUT_001",
                  "Connection timeout to external API after {ms} ms (request {id})"),
                 minutes_saved=Decimal("4")),
    DemoWorkflow("wf-002", "Customer import", (("Webhook", 20), ("Validate customer", 80), ("Enrich", 600),
                                               ("Save customer", 300)), 0.3,
                 ("Validate customer", "validation", "medium", "VALIDATION",
                  "Invalid payload: missing customer_id in record {n}"),
                 minutes_saved=Decimal("2.5")),
    DemoWorkflow("wf-003", "Invoice fetch", (("Schedule", 10), ("Get invoices", 1200), ("Store PDF", 500)), 0.15,
                 ("Get invoices", "network", "high", "HTTP_500",
                  "The service was not able to process your request: GET "
                  "https://billing.example.com/v2/invoices?page={page}&account={n}"),
                 minutes_saved=Decimal("10"), runs_per_hour_before=4, live_slowdown=("Get invoices", 8.0)),
    DemoWorkflow("wf-004", "Nightly report", (("Schedule", 10), ("Slow source", 1500), ("Pause", 2000),
                                              ("Render", 300), ("Email", 150)), 0.05,
                 ("Slow source", "timeout", "critical", "TIMEOUT", "Source did not answer within 30 s")),
]
BY_ID = {wf.external_id: wf for wf in WORKFLOWS}
HISTORY_DAYS = 14


def ensure_demo_accounts():
    """The demo team, a super admin and a team member with fresh random passwords, and a token.
    Returns what to print."""
    User = get_user_model()
    team, _ = Team.objects.get_or_create(slug=DEMO_TEAM, defaults={"name": "Demo team"})
    accounts = []
    for username, superuser, role in (("admin", True, Role.ADMIN), ("member", False, Role.MEMBER)):
        user, _ = User.objects.get_or_create(username=username)
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.is_staff, user.is_superuser = True, superuser
        user.save()
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
        accounts.append((username, password, "super admin" if superuser else f"{role} of {team.slug}"))
    token_cache.revoke(ServiceToken.objects.filter(team=team, name=DEMO_TOKEN_NAME))
    _, raw = ServiceToken.issue(team, DEMO_TOKEN_NAME)
    return team, accounts, raw


def credentials_text(url, team, accounts, token, saved_in=None):
    """What `demo setup` prints (and `make credentials` prints again): where to sign in, the
    fresh passwords and the service token."""
    url = url.rstrip("/")
    line = "=" * 72
    rows = [line, f"Flowtower demo at {url}/  (admin: {url}/admin/, API docs: {url}/api/v1/docs/)"]
    rows += [f"  {what:<20} username: {username:<8} password: {password}" for username, password, what in accounts]
    rows.append(f"  service token for team '{team.slug}': {token}")
    rows.append(f'  try: curl -H "Authorization: Bearer <token>" "{url}/api/workflows/monitoring?type=dashboard"')
    if saved_in:
        rows.append(f"  saved in {saved_in}: `make credentials` prints this again")
    rows.append(line)
    return "\n".join(rows) + "\n"


def _execution_records(wf: DemoWorkflow, execution_id, start, rng):
    """All records of one execution: a log per node, an error and alert when it fails, and a
    performance record at the end."""
    fails = rng.random() < wf.failure_rate
    logs, errors, alerts = [], [], []
    t = start
    done, failed_nodes = 0, 0
    durations = {}
    for step, (node, typical) in enumerate(wf.nodes, start=1):
        took = max(1, int(rng.gauss(typical, typical * 0.25)))
        durations[node] = took
        t += timedelta(milliseconds=took)
        base = {"workflow_id": wf.external_id, "workflow_name": wf.name, "execution_id": execution_id,
                "timestamp": t.isoformat(), "node_name": node, "step_number": step}
        if fails and node == wf.failure[0]:
            _, etype, severity, code, template = wf.failure
            message = template.format(n=rng.randint(1000, 99999), ms=rng.randint(30000, 30999),
                                      id=f"{rng.getrandbits(64):016x}", page=rng.randint(1, 40))
            logs.append({**base, "log_level": "error", "message": f"{node} failed: {message}", "duration": took})
            errors.append({k: v for k, v in base.items() if k != "step_number"} | {
                "error_type": etype, "severity": severity, "error_code": code, "error_message": message,
                "error_stack": f"Error: {message}\n    at {node.replace(' ', '')}.execute (node.js:42:13)",
                "metadata": {"retry_count": rng.randint(0, 3), "api_key": "demo-secret-is-masked"}})
            if severity in ("high", "critical"):
                alerts.append({"workflow_id": wf.external_id, "execution_id": execution_id,
                               "timestamp": t.isoformat(), "alert_type": "error",
                               "severity": "critical" if severity == "critical" else "warning",
                               "title": f"{wf.name} failed in {node}", "description": message})
            failed_nodes = 1
            break
        level = "warn" if took > typical * 1.4 else "info"
        message = f"{node} took {took} ms (slower than usual)" if level == "warn" else f"{node} completed"
        logs.append({**base, "log_level": level, "message": message, "duration": took,
                     "metadata": {"items": rng.randint(1, 500)}})
        done += 1
    total = int((t - start).total_seconds() * 1000)
    bottlenecks = sorted(durations, key=durations.get, reverse=True)[:2]
    performance = [{"workflow_id": wf.external_id, "execution_id": execution_id, "timestamp": t.isoformat(),
                    "total_duration": total, "node_count": len(wf.nodes), "successful_nodes": done,
                    "failed_nodes": failed_nodes, "memory_peak": rng.randint(64, 256) * 2**20,
                    "memory_average": rng.randint(32, 64) * 2**20, "cpu_peak": round(rng.uniform(20, 95), 2),
                    "cpu_average": round(rng.uniform(5, 40), 2), "network_requests": rng.randint(1, 30),
                    "network_data_transferred": rng.randint(1, 4096) * 1024,
                    "throughput": round(rng.uniform(0.5, 20), 2), "bottleneck_nodes": bottlenecks}]
    return {"log": logs, "error": errors, "alert": alerts, "performance": performance}


def _ingest_raw(team, raw):
    records = {}
    for kind, items in raw.items():
        valid, errors = validate_records(kind, items)
        if errors:
            raise ValueError(f"demo generated invalid {kind}: {errors}")
        records[kind] = valid
    return ingest(team, records)


def backfill(team, hours=24, per_hour=6, days=HISTORY_DAYS, seed=7):
    """History, so the dashboard has something to show on first start: the last `hours` with
    `per_hour` executions of random workflows, and `days` of the scheduled workflows' runs (the
    baseline anomaly rules compare with). Sets the time-saved estimates. Returns the number of
    executions made. Idempotent: does nothing once the team has executions."""
    if Execution.objects.filter(workflow__team=team).exists():
        return 0
    rng = random.Random(seed)
    now = timezone.now()
    history = {"log": [], "error": [], "alert": [], "performance": []}
    starts = [(wf, now - timedelta(hours=h) + timedelta(seconds=rng.randint(0, 3500)))
              for h in range(days * 24, 0, -1) for wf in WORKFLOWS for _ in range(wf.runs_per_hour_before)]
    starts += [(rng.choice(WORKFLOWS), now - timedelta(hours=h) + timedelta(seconds=rng.randint(0, 3500)))
               for h in range(hours, 0, -1) for _ in range(per_hour)]
    for count, (wf, start) in enumerate(starts):
        for kind, items in _execution_records(wf, f"demo-{start:%Y%m%d%H%M%S}-{count}", start, rng).items():
            history[kind] += items
    # One ingest of the whole history (one INSERT per kind) instead of one per execution: the
    # first `make run` is seconds faster.
    with transaction.atomic():
        _ingest_raw(team, history)
        set_time_saved_estimates(team)
        triage_error_groups(team)
    return len(starts)


# What the demo team already decided about its errors: the next live failure of a resolved group
# shows it "regressed" and raises the regression alert; an ignored group stays quiet.
TRIAGE = {"wf-002": (resolve_group, "Fixed: the form now requires customer_id"),
          "wf-001": (ignore_group, None)}


def triage_error_groups(team):
    for external_id, (action, notes) in TRIAGE.items():
        for group in ErrorGroup.objects.filter(team=team, workflow__external_id=external_id):
            if notes:
                action(group, "member", notes=notes)
            else:
                action(group, "member")


def set_time_saved_estimates(team):
    """The demo workflows' "minutes saved per successful run", where the team has set none."""
    for wf in WORKFLOWS:
        if wf.minutes_saved is not None:
            Workflow.objects.filter(team=team, external_id=wf.external_id, minutes_saved_per_run=None).update(
                minutes_saved_per_run=wf.minutes_saved)


class HttpSink:
    """Posts records to a running Flowtower's REST API, as a real service would. `make run` feeds
    the demo this way, so the events start in the web process and reach browsers even with the
    in-memory channel layer (no Redis)."""

    KEYS = {"log": "logs", "error": "errors", "performance": "performance", "alert": "alerts"}

    def __init__(self, url, token, wait_seconds=60):
        self.endpoint = url.rstrip("/") + "/api/workflows/monitoring?type=batch"
        self.token = token
        self.wait_seconds = wait_seconds

    def __call__(self, raw):
        body = json.dumps({self.KEYS[k]: v for k, v in raw.items() if v}).encode()
        request = urllib.request.Request(self.endpoint, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Idempotency-Key": secrets.token_hex(16),
        })
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"demo post failed: {exc.code} {exc.read()[:300]!r}")
            except OSError:
                # The server may still be starting; the same Idempotency-Key makes retries safe.
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def feed_forever(team, pace=1.0, stop_after=None, out=None, sink=None):
    """Run executions one step at a time, so live status shows them progress; `pace` scales the
    pauses between steps. Records go to `sink` (default: straight into monitoring.ingest).
    Stops after `stop_after` executions if given."""
    sink = sink or (lambda raw: _ingest_raw(team, raw))
    rng = random.Random()
    runs = 0
    while stop_after is None or runs < stop_after:
        wf = rng.choice(WORKFLOWS)
        start = timezone.now()
        execution_id = f"demo-{start:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        records = _execution_records(wf, execution_id, start, rng)
        first = None
        for log in records["log"]:
            # Each step arrives when it happens (not before: timestamps must not be in the future).
            time.sleep(pace * rng.uniform(0.4, 1.2))
            if wf.live_slowdown and log["node_name"] == wf.live_slowdown[0]:
                time.sleep(pace * wf.live_slowdown[1])
            stamp = timezone.now()
            first = first or stamp
            log["timestamp"] = stamp.isoformat()
            sink({"log": [log]})
        end = timezone.now()
        for kind in ("error", "alert", "performance"):
            for item in records[kind]:
                item["timestamp"] = end.isoformat()
        records["performance"][0]["total_duration"] = int((end - (first or end)).total_seconds() * 1000)
        sink({k: records[k] for k in ("error", "alert", "performance") if records[k]})
        runs += 1
        if out:
            out(f"demo: {wf.name} {execution_id} {'failed' if records['error'] else 'succeeded'}")
        time.sleep(pace * rng.uniform(0.5, 2.0))
