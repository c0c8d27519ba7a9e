"""The hourly and daily rollups (monitoring.rollups, migration 0010) give the dashboard, the
overview and the workflows page the same counts as the raw executions and errors, whatever wrote
them and in whatever order, for any period's edges, and keep them after retention deleted the
raw rows; percentiles are within the documented bound."""

import io
import random
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from monitoring import queries, retention, rollups, stats
from monitoring.access import Principal
from monitoring.ingest import ingest
from monitoring.models import (
    FAILED_STATES,
    ErrorRollup,
    Execution,
    ExecutionRollup,
    ServiceToken,
    Workflow,
    WorkflowError,
)
from monitoring.schemas import validate_records


def post(team, replace=False, **records):
    """Ingest as the REST API (validated records) or, for "execution" records, as the n8n mirror
    does (its mapped dicts, datetimes as they are)."""
    return ingest(team, {k: v if k == "execution" else validate_records(k, v)[0] for k, v in records.items()},
                  replace=replace)


def raw_counts(start, end=None, workflows=None):
    """What the executions table says for [start, end] (end None: from start on)."""
    qs = Execution.objects.filter(started_at__gte=start)
    if end is not None:
        qs = qs.filter(started_at__lte=end)
    if workflows is not None:
        qs = qs.filter(workflow__in=workflows)
    rows = list(qs.values_list("state", "duration_ms"))
    durations = [d for _, d in rows if d is not None]
    return {"total": len(rows), "success": sum(s == "success" for s, _ in rows),
            "failed": sum(s in FAILED_STATES for s, _ in rows), "duration_sum": sum(durations),
            "timed": len(durations), "p95": stats.percentile(durations, 95)}


def rollup_counts(target, start, end=None):
    t = rollups.executions(target, start, end).get(0, rollups.Totals())
    return {"total": t.total, "success": t.success, "failed": t.failed, "duration_sum": t.duration_sum,
            "timed": t.timed, "p95": t.percentile(95)}


def assert_close(rolled, raw):
    """Counts equal; the p95 within the bound (and half a millisecond of rounding each)."""
    p95, expected = rolled.pop("p95"), raw.pop("p95")
    assert rolled == raw
    if expected is None:
        assert p95 is None
    else:
        assert abs(p95 - expected) <= expected * rollups.PERCENTILE_BOUND + 1


def rollup_rows():
    """Every non-empty rollup row, to compare the triggers' work with a recount from raw rows."""
    e = {(r.level, r.team_id, r.workflow_id, r.bucket_start, r.duration_bucket):
         (r.total, r.success, r.error, r.crashed, r.canceled, r.duration_sum)
         for r in ExecutionRollup.objects.all() if r.total or r.duration_sum}
    f = {(r.level, r.team_id, r.workflow_id, r.bucket_start): (r.total, r.critical, r.open_critical, r.open_high)
         for r in ErrorRollup.objects.all() if r.total}
    return e, f


def mixed_ingest(team, now):
    """Runs as sources send them: logs first (running), then the outcome (a performance record,
    an error, an execution record), retries, a replaced execution, late old executions."""
    rng = random.Random(3)
    for batch in range(6):
        logs, perf, errors, execs = [], [], [], []
        for n in range(15):
            wf, ex = f"wf-{rng.randint(1, 3)}", f"b{batch}-{n}"
            at = now - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            logs.append({"workflow_id": wf, "execution_id": ex, "log_level": "info", "message": "step",
                         "timestamp": at.isoformat()})
            outcome = rng.random()
            if outcome < 0.5:
                perf.append({"workflow_id": wf, "execution_id": ex, "total_duration": rng.randint(50, 20_000),
                             "failed_nodes": int(rng.random() < 0.2), "timestamp": at.isoformat()})
            elif outcome < 0.7:
                errors.append({"workflow_id": wf, "execution_id": ex, "error_message": "boom",
                               "severity": rng.choice(["low", "high", "critical"]),
                               "timestamp": (at + timedelta(seconds=rng.randint(1, 90))).isoformat()})
            elif outcome < 0.85:
                execs.append({"workflow_id": wf, "execution_id": ex, "state": rng.choice(["crashed", "canceled"]),
                              "started_at": at, "stopped_at": at + timedelta(seconds=3), "duration_ms": 3000})
        post(team, log=logs)
        post(team, **{k: v for k, v in {"performance": perf, "error": errors, "execution": execs}.items() if v})
    # A retry, and an execution re-sent with replace (its errors rewritten, counted once).
    at = now - timedelta(hours=5)
    execution = {"workflow_id": "wf-1", "execution_id": "replaced", "state": "error", "started_at": at,
                 "stopped_at": at, "duration_ms": 10}
    error = {"workflow_id": "wf-1", "execution_id": "replaced", "error_message": "x", "severity": "critical",
             "timestamp": at.isoformat()}
    post(team, execution=[execution], error=[error, error])
    post(team, replace=True, execution=[{**execution, "state": "success", "duration_ms": 700}], error=[error])
    post(team, execution=[{"workflow_id": "wf-1", "execution_id": "retry", "state": "success", "started_at": at,
                           "duration_ms": 5, "retry_of": "replaced"}])
    # Late arrivals: old executions reported now.
    old = now - timedelta(days=12, minutes=17)
    post(team, execution=[{"workflow_id": "wf-2", "execution_id": f"late-{i}", "state": "success",
                           "started_at": old + timedelta(minutes=i), "duration_ms": 100 * i}
                          for i in range(5)])


@pytest.fixture
def now():
    return timezone.now()


def test_rollups_equal_raw_counts_after_mixed_ingest(team, now):
    mixed_ingest(team, now)
    target = rollups.teams_target([team.pk])
    for start, end in [
        (now - timedelta(days=30), None),
        (now - timedelta(days=30), now),
        (now - timedelta(hours=24), now),
        (now - timedelta(days=2, minutes=13), now - timedelta(hours=7, minutes=41)),
        (now - timedelta(minutes=50), now - timedelta(minutes=10)),  # inside an hour or two
        (rollups.floor_to(now - timedelta(days=2), rollups.DAY), rollups.floor_to(now, rollups.HOUR)),  # aligned
    ] + [
        # Edges read raw (under half an hour) or as the hour's rollup less the raw rows outside.
        (hour - timedelta(days=2, minutes=a), hour - timedelta(hours=3, minutes=b))
        for hour in [rollups.floor_to(now, rollups.HOUR)] for a, b in [(10, 10), (50, 50), (10, 50), (50, 10)]
    ]:
        assert_close(rollup_counts(target, start, end), raw_counts(start, end))
        wf = Workflow.objects.get(external_id="wf-1")
        assert_close(rollup_counts(rollups.workflows_target([wf]), start, end), raw_counts(start, end, [wf]))


def test_triggers_agree_with_a_recount(team, now):
    mixed_ingest(team, now)
    WorkflowError.objects.filter(severity="critical").first().save()  # an update that changes nothing
    error = WorkflowError.objects.filter(severity="high").first()
    error.resolved = True
    error.save()
    maintained = rollup_rows()
    rollups.rebuild()
    assert rollup_rows() == maintained
    assert maintained[0] and maintained[1]


def test_dashboard_from_rollups_equals_raw_counts(team, now):
    mixed_ingest(team, now)
    principal = Principal(token=ServiceToken.issue(team, "reader")[0])
    start, end = now - timedelta(days=3, minutes=5), now - timedelta(minutes=3)
    summary = queries.dashboard(principal, start=start, end=end)
    raw = raw_counts(start, end)
    assert (summary["total_executions"], summary["successful_executions"], summary["failed_executions"]) == (
        raw["total"], raw["success"], raw["failed"])
    assert summary["average_execution_time"] == round(raw["duration_sum"] / raw["timed"])
    errors = WorkflowError.objects.filter(timestamp__gte=start, timestamp__lte=end)
    assert summary["total_errors"] == errors.count() > 0
    assert summary["critical_errors"] == errors.filter(severity="critical").count()


def test_overview_and_workflow_rows_within_bound(team, make_user, now):
    mixed_ingest(team, now)
    principal = Principal(user=make_user("admin", superuser=True))
    for period in stats.PERIODS:
        data = stats.overview(principal, period, now=now)
        raw = raw_counts(data["start"])
        assert data["executions"] == raw["total"] == sum(b["success"] + b["failed"] + b["other"] for b in data["series"])
        if raw["p95"] is not None:
            assert abs(data["p95_duration"] - raw["p95"]) <= raw["p95"] * rollups.PERCENTILE_BOUND + 1
        # Each chart bucket: what started in it (and in the period; the last one also later).
        series = data["series"]
        for i, bucket in enumerate(series):
            lo = max(bucket["start"], data["start"])
            hi = series[i + 1]["start"] - timedelta(microseconds=1) if i + 1 < len(series) else None
            raw = raw_counts(lo, hi)
            assert (bucket["success"], bucket["failed"], bucket["other"]) == (
                raw["success"], raw["failed"], raw["total"] - raw["success"] - raw["failed"]), (period, i)
    workflows = list(Workflow.objects.filter(team=team))
    for row in stats.workflow_rows(principal, workflows, now=now):
        raw = raw_counts(now - stats.STATS_WINDOW, workflows=[row["workflow"]])
        assert row["executions"] == raw["total"]
        assert abs(row["p95_duration"] - raw["p95"]) <= raw["p95"] * rollups.PERCENTILE_BOUND + 1


def test_histogram_percentile_bound_on_a_wide_spread(db):
    rng = random.Random(11)
    for _ in range(50):
        durations = [int(rng.lognormvariate(7, 2)) for _ in range(rng.randint(1, 400))]
        with connection.cursor() as cursor:
            cursor.execute("SELECT flowtower_duration_bucket(d), count(*) FROM unnest(%s::bigint[]) d GROUP BY 1",
                           [durations])
            histogram = dict(cursor.fetchall())
        for p in (50, 95, 99):
            exact = stats.percentile(durations, p)
            assert abs(rollups.histogram_percentile(histogram, p) - exact) <= exact * rollups.PERCENTILE_BOUND + 1


def test_rollups_outlive_retention(team, now):
    mixed_ingest(team, now)
    start = rollups.floor_to(now - timedelta(days=20), rollups.DAY)
    end = rollups.floor_to(now, rollups.DAY)  # whole days only: no raw edge
    target = rollups.teams_target([team.pk])
    before = rollup_counts(target, start, end)
    errors_before = rollups.errors(target, start, end)
    assert before["total"] > 0 and errors_before["total"] > 0
    retention.prune(days=retention.retention_days(0), trigger="test")
    assert not Execution.objects.exists() and not WorkflowError.objects.exists()
    assert rollup_counts(target, start, end) == before
    assert rollups.errors(target, start, end) == errors_before


def test_deleting_a_workflow_deletes_its_rollups(team, now):
    mixed_ingest(team, now)
    gone = Workflow.objects.get(external_id="wf-1")
    pk = gone.pk
    assert ExecutionRollup.objects.filter(workflow_id=pk).exists() and ErrorRollup.objects.filter(workflow_id=pk).exists()
    gone.delete()
    assert not ExecutionRollup.objects.filter(workflow_id=pk).exists()
    assert not ErrorRollup.objects.filter(workflow_id=pk).exists()
    start = now - timedelta(days=30)
    assert_close(rollup_counts(rollups.teams_target([team.pk]), start), raw_counts(start))
    assert rollups.errors(rollups.teams_target([team.pk]), start, now)["total"] == WorkflowError.objects.count()
    # Deleted in plain SQL (a script's clean-up), children first: the database cascades to the rollups.
    other = Workflow.objects.get(external_id="wf-2")
    with connection.cursor() as cursor:
        for table in ("monitoring_executionlog", "monitoring_workflowerror", "monitoring_performancemetric",
                      "monitoring_alert", "monitoring_execution", "monitoring_workflow"):
            cursor.execute(f"DELETE FROM {table} WHERE {'id' if table == 'monitoring_workflow' else 'workflow_id'} = %s",
                           [other.pk])
    assert not ExecutionRollup.objects.filter(workflow_id=other.pk).exists()
    assert_close(rollup_counts(rollups.teams_target([team.pk]), start), raw_counts(start))
    maintained = rollup_rows()  # every level, the 6-hour team rows too
    rollups.rebuild()
    assert rollup_rows() == maintained


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingests_lose_no_count(make_team):
    team = make_team("busy")
    now = timezone.now()
    barrier = threading.Barrier(4)

    def send(worker):
        try:
            barrier.wait()
            for n in range(10):
                at = (now - timedelta(minutes=n)).isoformat()
                ex = f"w{worker}-{n}"
                post(team, log=[{"workflow_id": "wf-hot", "execution_id": ex, "log_level": "info", "message": "m",
                                 "timestamp": at}],
                     error=[{"workflow_id": "wf-hot", "execution_id": ex, "error_message": "e", "severity": "high",
                             "timestamp": at}])
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start = now - timedelta(hours=2)
    target = rollups.teams_target([team.pk])
    assert rollup_counts(target, start)["total"] == Execution.objects.count() == 40
    assert rollups.errors(target, start, now)["open_high"] == 40


def test_rebuild_rollups_counts_rows_written_without_triggers_and_keeps_old_days(team, now):
    wf = Workflow.objects.create(team=team, external_id="wf-restored")
    ancient = now - timedelta(days=400)  # before every retention cut-off
    post(team, execution=[{"workflow_id": "wf-restored", "execution_id": "ancient", "state": "success",
                           "started_at": ancient, "duration_ms": 40}])
    Execution.objects.filter(external_id="ancient").delete()  # as retention would: its rollup stays
    with connection.cursor() as cursor:
        # As a restore with triggers disabled (or the bench dataset generator) writes rows.
        cursor.execute("SET LOCAL session_replication_role = replica")
        Execution.objects.bulk_create(
            Execution(workflow=wf, external_id=f"r{i}", state="success" if i % 3 else "error",
                      started_at=now - timedelta(hours=i * 5, minutes=7), duration_ms=100 + i)
            for i in range(40))
        cursor.execute("SET LOCAL session_replication_role = origin")
    target = rollups.workflows_target([wf])
    start = now - timedelta(days=10)
    assert rollup_counts(target, start)["total"] == 0
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert_close(rollup_counts(target, start), raw_counts(start, workflows=[wf]))
    old_day = rollups.floor_to(ancient, rollups.DAY)
    assert rollup_counts(target, old_day, old_day + rollups.DAY)["total"] == 1


def test_workflow_stats_in_sql_agree_with_the_histogram_in_python(team, now):
    mixed_ingest(team, now)
    workflows = rollups.workflows_target(Workflow.objects.filter(team=team))
    start = now - timedelta(days=2, minutes=20)
    in_python = rollups.executions(workflows, start, None, "workflow")
    for p in (50, 95, 99):
        in_sql = rollups.workflow_stats(workflows, start, p)
        assert set(in_sql) == set(in_python)
        for wf, (total, ok, value) in in_sql.items():
            t = in_python[wf]
            assert (total, ok) == (t.total, t.success)
            expected = t.percentile(p)
            assert value == expected or abs(value - expected) <= 1  # rounding half-even vs half-away


def test_overview_page_reads_the_executions_once_and_agrees_with_the_dashboard(team, other_team, make_user, now):
    """The page's cards, chart and system health come from one read of the execution rollups,
    with the same counts (and so the same health) as the dashboard over the period; the open
    errors card counts the member's teams' unresolved errors only."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    mixed_ingest(team, now)
    post(other_team, error=[{"workflow_id": "theirs", "execution_id": "t1", "error_message": "x", "severity": "low"}])
    WorkflowError.objects.filter(pk=WorkflowError.objects.filter(workflow__team=team).first().pk).update(resolved=True)
    open_errors = WorkflowError.objects.filter(workflow__team=team, resolved=False).count()
    client = Client()
    client.force_login(make_user("viewer", team, "viewer"))
    for period in ("24h", "7d", "30d"):
        with CaptureQueriesContext(connection) as queries_run:
            r = client.get(f"/?period={period}")
        assert r.status_code == 200
        assert sum("monitoring_executionrollup" in q["sql"] for q in queries_run.captured_queries) == 1, period
        data = r.context["stats"]
        summary = queries.dashboard(Principal(user=r.context["user"]), None, data["start"], data["end"])
        assert (data["counts"]["total"], data["counts"]["successful"], data["counts"]["failed"]) == (
            summary["total_executions"], summary["successful_executions"], summary["failed_executions"]), period
        assert round(data["counts"]["average"]) == summary["average_execution_time"]
        assert r.context["summary"]["system_health"] == summary["system_health"]
        assert data["open_errors"] == open_errors > 0
        assert f'data-stat="executions">{summary["total_executions"]}<' in r.content.decode()
        # The navigation's badge shows the cards' count of unacknowledged alerts.
        assert r.context["unacknowledged_alerts"] == data["unacknowledged_alerts"]


def test_dashboard_recent_logs_are_the_periods_newest_whether_or_not_its_last_day_has_enough(team, make_user, now):
    """The newest logs are looked for in the period's last day first; a day with fewer than ten
    takes the rest from earlier in the period, and nothing from outside it."""
    def log(i, at):
        return {"workflow_id": "wf-1", "execution_id": f"x{i}", "log_level": "info", "message": f"m{i}",
                "timestamp": at.isoformat()}

    principal = Principal(user=make_user("admin", superuser=True))
    post(team, log=[log(i, now - timedelta(days=3, minutes=i)) for i in range(12)] + [log(99, now - timedelta(days=9))])
    post(team, log=[log(i, now - timedelta(hours=2, minutes=i - 100)) for i in range(100, 104)])

    def messages(start, end):
        return [row["message"] for row in queries.dashboard(principal, None, start, end, recent=("logs",))[
            "recent_activity"]["logs"]]

    assert messages(now - timedelta(days=7), now) == [f"m{i}" for i in [100, 101, 102, 103, 0, 1, 2, 3, 4, 5]]
    post(team, log=[log(i, now - timedelta(hours=1, minutes=i - 200)) for i in range(200, 212)])
    got = messages(now - timedelta(days=7), now)
    assert got == [f"m{i}" for i in range(200, 210)], got
    assert messages(now - timedelta(days=30), now - timedelta(days=8)) == ["m99"]


def test_segments_with_six_hour_rows_cover_the_same_hours_once(now):
    """Whole hours beside the days read as 6-hour team rows where they fit: the same raw edges,
    and rollup pieces that tile the same span without gap or overlap, each on its own boundaries."""
    rng = random.Random(5)
    for _ in range(300):
        start = now - timedelta(minutes=rng.randint(0, 5 * 24 * 60))
        end = None if rng.random() < 0.2 else start + timedelta(minutes=rng.randint(0, 4 * 24 * 60))
        plain = rollups.segments(start, end)
        mixed = rollups.segments(start, end, rollups.DAY, rollups.QUARTER_DAY)
        assert [p for p in mixed if p[0] == "raw"] == [p for p in plain if p[0] == "raw"]
        spans = sorted((p[1], p[2], p[0]) for p in mixed if p[0] != "raw")
        whole = sorted((p[1], p[2]) for p in plain if p[0] != "raw")
        if not whole:
            assert not spans
            continue
        assert spans[0][0] == whole[0][0] and spans[-1][1] == whole[-1][1]
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        for lo, hi, size in spans:
            assert rollups.floor_to(lo, size) == lo and (hi is None or rollups.floor_to(hi, size) == hi)
