"""Node rollups (migration 0011, monitoring.rollups.node_windows): the per-node statistics of a
workflow read from them equal the computation from the raw logs — runs and failure shares exactly,
p50 / p95 within the documented bound — whatever order the logs of a run arrive in, with
replaced logs, and they outlive retention and go with their workflow."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from monitoring import node_stats as node_stats_module
from monitoring import retention, rollups
from monitoring.models import Execution, ExecutionLog, NodeRollup, Workflow
from monitoring.node_stats import node_stats

NODES = ("Fetch", "Transform", "Store", "Notify")


def log(workflow, execution, node, when, duration, level="info"):
    return ExecutionLog(workflow=workflow, execution=execution, node_name=node, duration=duration, log_level=level,
                        message=f"{node} {level}", timestamp=when)


@pytest.fixture
def busy(team):
    """wf-busy: 300 executions over 14 days at arbitrary times, each running the nodes with one to
    three logs per node (a loop), some failed, some untimed; written by several statements, one
    execution's logs replaced, late logs added to runs already counted. wf-quiet of the same team
    runs the same nodes and must not mix in."""
    rng = random.Random(7)
    now = timezone.now()
    busy, quiet = (Workflow.objects.create(team=team, external_id=e, name=e) for e in ("wf-busy", "wf-quiet"))
    batches, executions = [], []
    for i in range(300):
        wf = busy if i % 5 else quiet
        start = now - timedelta(seconds=rng.uniform(0, 14 * 86400))
        execution = Execution.objects.create(workflow=wf, external_id=f"e{i}", started_at=start)
        executions.append(execution)
        logs = []
        for n, node in enumerate(NODES):
            for k in range(rng.choice((1, 1, 2, 3))):
                duration = None if node == "Notify" and rng.random() < 0.5 else int(rng.lognormvariate(5, 1.2))
                level = "error" if rng.random() < 0.08 else ("fatal" if rng.random() < 0.02 else "info")
                logs.append(log(wf, execution, node, start + timedelta(seconds=n * 10 + k), duration, level))
        logs.append(ExecutionLog(workflow=wf, execution=execution, log_level="info", message="no node", timestamp=start))
        batches.append(logs)
    for b in range(0, len(batches), 37):  # statements of several executions at once
        ExecutionLog.objects.bulk_create([entry for logs in batches[b:b + 37] for entry in logs])
    # Late logs joining runs already counted (their duration, bin and failure change).
    for execution in executions[::7]:
        ExecutionLog.objects.bulk_create([log(execution.workflow, execution, "Fetch",
                                              execution.started_at + timedelta(seconds=5), 900, "fatal")])
    # An execution's logs replaced (the n8n mirror's replace=True deletes them and writes them again).
    replaced = executions[1]
    ExecutionLog.objects.filter(execution=replaced).delete()
    ExecutionLog.objects.bulk_create([log(replaced.workflow, replaced, "Store", replaced.started_at, 42)])
    return busy


def exact(workflow, days, now):
    start = now - timedelta(days=days)
    runs = node_stats_module._node_runs(workflow, start - timedelta(days=days), now)
    return node_stats_module._windows_sql(runs, start)


def assert_within_bound(rolled, raw):
    assert (rolled is None) == (raw is None)
    if raw is not None:
        assert abs(rolled - raw) <= raw * rollups.PERCENTILE_BOUND + 1


@pytest.mark.parametrize("days", [1, 3, 7])
def test_node_stats_from_rollups_equal_the_raw_logs(busy, monkeypatch, days):
    monkeypatch.setattr(node_stats_module, "EXACT_UP_TO", 0)  # the rollups, however few the runs
    now = timezone.now()
    raw = exact(busy, days, now)
    rolled = node_stats_module._windows_rollups(busy, now - timedelta(days=2 * days), now - timedelta(days=days),
                                                now)[0]
    assert rolled.keys() == raw.keys() and raw
    for key, window in raw.items():
        assert (rolled[key]["runs"], rolled[key]["failure_share"]) == (window["runs"], window["failure_share"])
        assert_within_bound(rolled[key]["p50_ms"], window["p50_ms"])
        assert_within_bound(rolled[key]["p95_ms"], window["p95_ms"])
    stats = node_stats(busy, days=days, now=now)
    assert [n["node_name"] for n in stats["nodes"]] and all(n["runs"] == raw[(n["node_name"], True)]["runs"]
                                                             for n in stats["nodes"])


def rows():
    return sorted(NodeRollup.objects.values_list("workflow_id", "level", "bucket_start", "node_name",
                                                 "duration_bucket", "runs", "failures", "duration_sum"))


def test_triggers_agree_with_a_rebuild(busy):
    maintained = [r for r in rows() if r[5] or r[6] or r[7]]
    assert maintained
    with connection.cursor() as cursor:
        cursor.execute("SELECT flowtower_rebuild_node_rollups(NULL, NULL)")
    assert rows() == maintained


def test_node_rollups_outlive_retention(busy):
    now = timezone.now()
    windows = [(rollups.floor_to(now - timedelta(days=13), rollups.DAY), rollups.floor_to(now, rollups.HOUR))]
    before = rollups.node_windows(busy.pk, windows)
    assert before
    retention.prune(days=retention.retention_days(0), trigger="test")
    assert not ExecutionLog.objects.filter(workflow=busy).exists()
    assert rollups.node_windows(busy.pk, windows) == before


def test_deleting_a_workflow_deletes_its_node_rollups(busy):
    pk = busy.pk
    quiet = NodeRollup.objects.exclude(workflow_id=pk).count()
    assert NodeRollup.objects.filter(workflow_id=pk).exists() and quiet
    busy.delete()
    assert not NodeRollup.objects.filter(workflow_id=pk).exists()
    assert NodeRollup.objects.exclude(workflow_id=pk).count() == quiet
