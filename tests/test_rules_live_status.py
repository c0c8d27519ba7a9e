"""README, "Live status and dashboard": live status of a running execution.

progress_percentage is 100 when finished; otherwise step number / expected steps (the execution's
total_steps, else the node count of the workflow's last performance record), else elapsed /
expected duration; at most 99 while running. estimated_remaining_time is the mean duration of
the workflow's last 20 successful runs minus elapsed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Execution, PerformanceMetric, Workflow
from monitoring.queries import live_status

NOW = timezone.now().replace(microsecond=0)
ELAPSED_MS = 5000


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-1")


def past_runs(workflow, durations, state="success", prefix="past"):
    """Finished runs, newest first as listed, all started before the running one."""
    Execution.objects.bulk_create(
        Execution(workflow=workflow, external_id=f"{prefix}-{n}", state=state, duration_ms=duration,
                  started_at=NOW - timedelta(hours=1, minutes=n))
        for n, duration in enumerate(durations)
    )


def running(workflow, **fields):
    return Execution.objects.create(workflow=workflow, external_id="now", state="running",
                                    started_at=NOW - timedelta(milliseconds=ELAPSED_MS), **fields)


# The newest 20 successful runs average 20 s (their median is 10 s); an older 21st run of 1000 s
# must not count.
TWENTY = [10_000] * 19 + [210_000]


@pytest.mark.parametrize("durations", [TWENTY, TWENTY + [1_000_000]], ids=["20-runs", "21-runs"])
def test_estimate_is_the_mean_of_the_last_20_successful_runs(workflow, durations):
    past_runs(workflow, durations)
    running(workflow)
    status = live_status(workflow, now=NOW)
    assert status["elapsed_time"] == ELAPSED_MS
    assert status["estimated_remaining_time"] == 20_000 - ELAPSED_MS


def test_only_successful_runs_make_the_estimate(workflow):
    past_runs(workflow, TWENTY)
    # Newer than all of them, but failed or canceled: not a sample of how long a run takes.
    for state in ("error", "crashed", "canceled"):
        past_runs(workflow, [900_000], state=state, prefix=state)
        Execution.objects.filter(external_id=f"{state}-0").update(started_at=NOW - timedelta(minutes=30))
    running(workflow)
    assert live_status(workflow, now=NOW)["estimated_remaining_time"] == 20_000 - ELAPSED_MS


def test_only_this_workflows_runs_with_a_duration_count(workflow, team):
    past_runs(workflow, [6000] * 5)
    other = Workflow.objects.create(team=team, external_id="wf-other")
    past_runs(other, [600_000] * 5, prefix="other")
    Execution.objects.create(workflow=workflow, external_id="no-duration", state="success",
                             started_at=NOW - timedelta(minutes=5))
    running(workflow)
    assert live_status(workflow, now=NOW)["estimated_remaining_time"] == 1000


def test_progress_falls_back_to_elapsed_over_expected_duration(workflow):
    past_runs(workflow, TWENTY)
    running(workflow)  # no step information at all
    assert live_status(workflow, now=NOW)["progress_percentage"] == 25  # 5 s of an expected 20 s


def test_progress_by_time_is_rounded_to_the_nearest_percent(workflow):
    past_runs(workflow, [6000] * 5)
    running(workflow)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 83  # 5 s of 6 s is 83.3 %


def test_a_step_number_without_expected_steps_uses_the_duration(workflow):
    past_runs(workflow, TWENTY)
    running(workflow, step_number=3)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 25


def test_progress_by_steps_when_they_are_known(workflow):
    past_runs(workflow, TWENTY)
    running(workflow, step_number=1, total_steps=8)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 12  # round(12.5), not 25 by time


def performance(workflow, execution_id, node_count, minutes_ago):
    PerformanceMetric.objects.create(workflow=workflow, execution=Execution.objects.get(external_id=execution_id),
                                     total_duration=10_000, node_count=node_count,
                                     timestamp=NOW - timedelta(minutes=minutes_ago))


def test_expected_steps_from_the_last_performance_record(workflow):
    past_runs(workflow, TWENTY)
    performance(workflow, "past-2", 4, minutes_ago=70)
    performance(workflow, "past-1", 10, minutes_ago=65)
    performance(workflow, "past-0", 0, minutes_ago=60)  # no nodes counted: not a step count
    running(workflow, step_number=3)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 30


def test_another_workflows_performance_records_give_no_step_count(workflow, team):
    past_runs(workflow, TWENTY)
    other = Workflow.objects.create(team=team, external_id="wf-other")
    past_runs(other, [1000], prefix="other")
    performance(other, "other-0", 10, minutes_ago=1)
    running(workflow, step_number=3)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 25  # by time, not 3 of 10 steps


@pytest.mark.parametrize("step, total", [(4, 4), (9, 4)])
def test_progress_by_steps_is_at_most_99_while_running(workflow, step, total):
    running(workflow, step_number=step, total_steps=total)
    assert live_status(workflow, now=NOW)["progress_percentage"] == 99


def test_progress_by_time_is_at_most_99_and_remaining_never_negative(workflow):
    past_runs(workflow, [2000] * 5)  # expected 2 s; this run is at 5 s
    running(workflow)
    status = live_status(workflow, now=NOW)
    assert status["progress_percentage"] == 99
    assert status["estimated_remaining_time"] == 0


def test_a_finished_run_is_at_100(workflow):
    past_runs(workflow, TWENTY)
    execution = running(workflow, step_number=1, total_steps=8)
    Execution.objects.filter(pk=execution.pk).update(state="success", duration_ms=4000,
                                                     stopped_at=execution.started_at + timedelta(seconds=4))
    status = live_status(workflow, now=NOW)
    assert status["progress_percentage"] == 100
    assert status["elapsed_time"] == 4000 and status["estimated_remaining_time"] == 0


def test_no_history_means_no_estimate(workflow):
    running(workflow)
    status = live_status(workflow, now=NOW)
    assert status["progress_percentage"] is None and status["estimated_remaining_time"] is None
