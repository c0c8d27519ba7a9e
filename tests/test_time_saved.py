"""Time saved (monitoring.time_saved): successful runs in the period times each workflow's minutes
saved per run, summed exactly; the rollups and the executions give the same answer for any
period's edges; workflows without an estimate count 0 and are reported; a team sees only its own."""

from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest

from monitoring import queries, rollups, time_saved
from monitoring.access import Principal
from monitoring.models import Execution, Workflow

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=dt_timezone.utc)


def add_runs(workflow, states, start, step=timedelta(minutes=17)):
    """Executions of `workflow`, one per state, `step` apart from `start`."""
    Execution.objects.bulk_create([
        Execution(workflow=workflow, external_id=f"{workflow.external_id}-{start.isoformat()}-{i}", state=state,
                  started_at=start + step * i, duration_ms=1000 + i) for i, state in enumerate(states)])


def workflow(team, external_id, minutes=None):
    return Workflow.objects.create(team=team, external_id=external_id, name=external_id.title(),
                                   minutes_saved_per_run=minutes)


@pytest.fixture
def acme_workflows(team):
    return {
        "invoices": workflow(team, "invoices", Decimal("12.50")),
        "reports": workflow(team, "reports", Decimal("3")),
        "cleanup": workflow(team, "cleanup"),  # not estimated
    }


def test_sums_successes_times_estimates_and_reports_the_unestimated(team, acme_workflows):
    add_runs(acme_workflows["invoices"], ["success"] * 3 + ["error", "crashed", "canceled", "running"], T0)
    add_runs(acme_workflows["reports"], ["success"] * 5, T0)
    add_runs(acme_workflows["cleanup"], ["success"] * 9, T0)
    result = time_saved.time_saved(Workflow.objects.filter(team=team), T0, T0 + timedelta(days=1))
    assert result.minutes == Decimal("37.50") + Decimal("15")
    assert (result.workflows, result.estimated_workflows, result.not_estimated_workflows) == (3, 2, 1)
    assert [(w.external_id, r.successful_runs, r.minutes) for w, r in result.top()] == [
        ("invoices", 3, Decimal("37.50")), ("reports", 5, Decimal("15"))]
    block = result.as_dict()
    assert block["minutes"] == 52.5 and block["hours"] == 0.88
    assert block["top_workflows"][0] == {"workflow_id": "invoices", "team": "acme", "name": "Invoices",
                                         "minutes_saved_per_run": 12.5, "successful_runs": 3, "minutes": 37.5}


def test_an_estimate_of_zero_is_estimated_and_saves_nothing(team):
    wf = workflow(team, "ping", Decimal("0"))
    add_runs(wf, ["success"] * 4, T0)
    result = time_saved.time_saved(Workflow.objects.filter(team=team), T0, None)
    assert (result.minutes, result.estimated_workflows) == (Decimal(0), 1)


def test_no_estimated_workflow_reads_no_executions(team, acme_workflows, django_assert_num_queries):
    Workflow.objects.update(minutes_saved_per_run=None)
    with django_assert_num_queries(1):
        result = time_saved.time_saved(Workflow.objects.filter(team=team), T0, None)
    assert (result.minutes, result.workflows, result.estimated_workflows) == (0, 3, 0)


def test_period_edges_count_runs_started_from_start_to_end_inclusive(team, acme_workflows):
    wf = acme_workflows["reports"]
    Execution.objects.bulk_create([
        Execution(workflow=wf, external_id=f"e{i}", state="success", started_at=at)
        for i, at in enumerate([T0 - timedelta(microseconds=1), T0, T0 + timedelta(hours=5, minutes=7),
                                T0 + timedelta(hours=9), T0 + timedelta(hours=9, microseconds=1)])])
    for use_rollups in ([False, True] if rollups.available() else [False]):
        counted = time_saved.successes([wf], T0, T0 + timedelta(hours=9), use_rollups=use_rollups)
        assert counted == {wf.pk: 3}, use_rollups


@pytest.mark.skipif("not __import__('monitoring.rollups').rollups.available()")
def test_rollups_and_executions_agree_for_any_period(team, acme_workflows):
    """Runs over three days: whole days and hours come from the rollups, the edges from the rows."""
    for n, wf in enumerate(acme_workflows.values()):
        states = ["success", "error", "success", "canceled", "success"] * 40
        add_runs(wf, states, T0 - timedelta(days=1, minutes=n * 7), step=timedelta(minutes=19))
    visible = Workflow.objects.filter(team=team)
    for start, end in [(T0, None), (T0 - timedelta(hours=20, minutes=31), T0 + timedelta(hours=30, minutes=1)),
                       (T0 + timedelta(minutes=45), T0 + timedelta(hours=1, minutes=10)),
                       (T0 - timedelta(days=2), T0 + timedelta(days=3))]:
        rolled = time_saved.time_saved(visible, start, end, use_rollups=True)
        raw = time_saved.time_saved(visible, start, end, use_rollups=False)
        assert rolled.minutes == raw.minutes and rolled.minutes > 0, (start, end)
        assert [(r.pk, r.successful_runs) for r in rolled.rows] == [(r.pk, r.successful_runs) for r in raw.rows]


def test_a_team_sees_only_its_own_workflows_time_saved(team, other_team, acme_workflows, make_user):
    theirs = workflow(other_team, "payroll", Decimal("60"))
    add_runs(theirs, ["success"] * 10, T0)
    add_runs(acme_workflows["invoices"], ["success"] * 2, T0)
    member = make_user("ann", team, "member")
    result = time_saved.time_saved(queries.visible_workflows(Principal(user=member)), T0, None)
    assert result.minutes == Decimal("25.00")
    assert theirs.pk not in {r.pk for r in result.rows} and result.workflows == 3


@pytest.mark.parametrize("minutes, text", [
    (Decimal("0"), "0 min"), (Decimal("0.4"), "0 min"), (Decimal("44.5"), "45 min"), (Decimal("60"), "1 h"),
    (Decimal("750"), "12 h 30 min"), (Decimal("6000"), "100 h"), (Decimal("74040.2"), "1,234 h"), (None, "")])
def test_humane_durations(minutes, text):
    assert time_saved.humane(minutes) == text


def test_set_estimate_bounds_and_clears(team):
    wf = workflow(team, "invoices")
    time_saved.set_estimate(wf, Decimal("10080"))
    assert Workflow.objects.get(pk=wf.pk).minutes_saved_per_run == Decimal("10080.00")
    with pytest.raises(ValueError):
        time_saved.set_estimate(wf, Decimal("10080.01"))
    with pytest.raises(ValueError):
        time_saved.set_estimate(wf, Decimal("-1"))
    time_saved.set_estimate(wf, None)
    assert Workflow.objects.get(pk=wf.pk).minutes_saved_per_run is None
