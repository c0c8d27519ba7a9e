"""The overview page and the workflows page aggregate in PostgreSQL; the demo (SQLite) computes
the same figures in Python. Both ways must give the same cards, chart buckets and rows."""

import random
from datetime import timedelta

from django.utils import timezone

from monitoring import stats
from monitoring.access import Principal
from monitoring.models import Execution, ExecutionState, Workflow

STATES = [s.value for s in ExecutionState]


def _executions(team, now):
    rng = random.Random(7)
    workflows = [Workflow.objects.create(team=team, external_id=f"wf-{i}", name=f"wf {i}") for i in range(3)]
    Execution.objects.bulk_create(
        Execution(
            workflow=rng.choice(workflows),
            external_id=f"e-{n}",
            state=rng.choice(STATES),
            # Some runs are older than every period, a few a little in the future (clock skew).
            started_at=now - timedelta(seconds=rng.randint(-600, 35 * 86400)),
            duration_ms=None if rng.random() < 0.1 else rng.randint(1, 10_000),
        )
        for n in range(1500)
    )
    return workflows


def test_overview_sql_matches_python(team, make_user):
    now = timezone.now()
    _executions(team, now)
    principal = Principal(user=make_user("admin", superuser=True))
    for period, (length, step) in stats.PERIODS.items():
        start = now - length
        count = int(length / step)
        qs = stats._executions(principal, start)
        assert stats._overview_sql(qs, start, step, count) == stats._overview_python(qs, start, step, count), period
    data = stats.overview(principal, "30d", now=now)
    assert data["executions"] == sum(b["success"] + b["failed"] + b["other"] for b in data["series"]) > 0


def test_workflow_rows_sql_matches_python(team, make_user):
    now = timezone.now()
    workflows = _executions(team, now)
    window = Execution.objects.filter(workflow__in=workflows, started_at__gte=now - stats.STATS_WINDOW).order_by()
    assert stats._window_stats_sql(window) == stats._window_stats_python(window)
    rows = stats.workflow_rows(Principal(user=make_user("admin", superuser=True)), workflows, now=now)
    for row in rows:
        assert row["latest"] == Execution.objects.filter(workflow=row["workflow"]).order_by("-started_at").first()

