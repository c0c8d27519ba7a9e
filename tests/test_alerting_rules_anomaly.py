"""The anomaly rule kind: a workflow's p95 duration or failure rate over the last window, against
its own hourly history (the workflow-hour rollups the PostgreSQL triggers keep from the executions
written here). It fires on a step change and says what is usual at this hour; it stays quiet for
noise, a slow drift, a workflow that is always slow at that hour of the day, and a window with too
few runs; it clears when the window is back within the usual range; its baseline is computed once
an hour per team; its params are checked like every kind's; a rule never sees another team's or
an out-of-scope workflow."""

import random
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.rules import anomaly, baselines
from alerts.rules.registry import validate_params
from alerting_api_world import people  # noqa: F401
from monitoring import rollups
from monitoring.models import Execution
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401

DURATION = {"metric": "duration"}
FAILURES = {"metric": "failure_rate"}


@pytest.fixture(autouse=True)
def _empty_cache():
    # Baselines are cached per team and hour: a run's team pks and hours may repeat a previous run's.
    cache.clear()


def history(world, wf, *, days=14, hours=None, per_hour=4, duration=lambda at, i: 7000, failed=lambda at, i: False,
            runs_at=lambda at: True, prefix="h"):
    """Finished executions of the `days` before the current hour, `per_hour` an hour (none in the
    last 15 minutes: the window holds only what a test puts there)."""
    hour = rollups.floor_to(world.now, rollups.HOUR)
    rows = []
    for h in range(hours or days * 24, 0, -1):
        start = hour - timedelta(hours=h)
        for i in range(per_hour):
            at = start + timedelta(minutes=i * 60 // per_hour + 1)
            if at >= world.now - timedelta(minutes=15) or not runs_at(at):
                continue
            ms = int(duration(at, i))
            rows.append(Execution(workflow=wf, external_id=f"{prefix}{h}-{i}",
                                  state="error" if failed(at, i) else "success", started_at=at,
                                  stopped_at=at + timedelta(milliseconds=ms), duration_ms=ms))
    Execution.objects.bulk_create(rows, batch_size=5000)


def window(world, wf, count, *, duration_ms=7000, failures=0, prefix="w"):
    """`count` finished executions in the last 10 minutes, the first `failures` of them failed."""
    for i in range(count):
        at = world.now - timedelta(minutes=10) + timedelta(seconds=20 * i)
        Execution.objects.create(workflow=wf, external_id=f"{prefix}{i}", state="error" if i < failures else "success",
                                 started_at=at, stopped_at=at + timedelta(milliseconds=duration_ms),
                                 duration_ms=duration_ms)


def noisy(seed):
    """Durations of 6 to 9 s, at random."""
    rnd = random.Random(seed)
    return lambda at, i: rnd.uniform(6000, 9000)


# --- duration ------------------------------------------------------------------------------------
def test_a_step_change_in_duration_fires_with_what_is_usual_and_clears_when_back(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, duration=noisy(1))
    window(world, wf, 12, duration_ms=41_000)
    world.window_pass()
    alert = open_alert(rule, wf)
    assert alert is not None and alert.alert_type == "performance"
    assert alert.title == "Anomaly: p95 duration 41 s on BILLING"
    assert alert.metadata == {"value": 41000}
    text = alert.description
    assert text.startswith("p95 duration 41 s over 12 runs in the last 15 min, usually ")
    low, high = text.split("usually ")[1].split(" s at this hour")[0].split("–")
    assert 6 <= float(low) <= float(high) <= 9  # the hours' p95s of 6–9 s runs
    assert text.endswith("at this hour (12:00 UTC daily, 14-day baseline).")
    world.later(minutes=16)  # the slow runs left the window; the new ones are usual again
    window(world, wf, 8, duration_ms=7000, prefix="ok")
    assert world.window_pass()["resolved"] == 1
    assert open_alert(rule, wf) is None


def test_once_firing_it_holds_until_the_window_is_back_within_the_usual_range(world):
    wf, fresh = world.workflow("billing"), world.workflow("reports")
    rule = world.rule("anomaly", DURATION)
    history(world, wf)  # 7 s every run: bar 1.5 × 7 s
    history(world, fresh)
    window(world, wf, 8, duration_ms=20_000)
    world.window_pass()
    assert open_alert(rule, wf) is not None
    world.later(minutes=16)
    window(world, wf, 8, duration_ms=9000, prefix="better")  # under the bar, above the usual 7 s
    window(world, fresh, 8, duration_ms=9000)
    summary = world.window_pass()
    assert summary["resolved"] == 0 and open_alert(rule, wf) is not None
    assert open_alert(rule, fresh) is None  # the same 9 s does not start an anomaly
    world.later(minutes=16)
    window(world, wf, 8, duration_ms=7000, prefix="usual")
    assert world.window_pass()["resolved"] == 1


def test_noise_within_the_usual_spread_is_quiet(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, duration=noisy(2))
    rnd = random.Random(3)
    for i in range(12):
        window(world, wf, 1, duration_ms=int(rnd.uniform(6000, 9000)), prefix=f"n{i}-")
    world.window_pass()
    assert alerts_of(rule) == []


def test_too_few_runs_in_the_window_are_quiet(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", {**DURATION, "min_executions": 5})
    history(world, wf, duration=noisy(4))
    window(world, wf, 4, duration_ms=60_000)
    world.window_pass()
    assert alerts_of(rule) == []


def test_a_workflow_always_slow_at_this_hour_of_the_day_is_quiet_where_a_flat_one_fires(world):
    world.later(hours=14, minutes=15)  # 02:15 UTC the next day
    nightly, flat = world.workflow("nightly"), world.workflow("flat")
    rule = world.rule("anomaly", DURATION)
    history(world, nightly, duration=lambda at, i: 30_000 if at.hour == 2 else 1000)
    history(world, flat, duration=lambda at, i: 1000)
    window(world, nightly, 8, duration_ms=30_000)
    window(world, flat, 8, duration_ms=30_000, prefix="f")
    world.window_pass()
    assert open_alert(rule, nightly) is None
    assert " ms at this hour (02:00 UTC daily, 14-day baseline)." in open_alert(rule, flat).description  # ~1,000 ms


def test_a_slow_drift_is_followed_by_the_baseline_and_stays_quiet(world):
    # 3 % slower every day for two weeks (5 s → 7.5 s): today's runs continue the trend. Documented:
    # a drift the 14-day median keeps up with never fires; one faster than 1.5× the usual top does.
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    start = world.now - timedelta(days=14)
    history(world, wf, duration=lambda at, i: 5000 * 1.03 ** ((at - start) / timedelta(days=1)))
    window(world, wf, 10, duration_ms=int(5000 * 1.03 ** 14))
    world.window_pass()
    assert alerts_of(rule) == []


def test_with_enough_weeks_the_same_hour_of_the_week_is_the_baseline(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", {**DURATION, "baseline_days": 21})
    history(world, wf, days=21, per_hour=2, duration=lambda at, i: 2000)
    window(world, wf, 6, duration_ms=9000)
    world.window_pass()
    assert "usually 2 s at this hour (Mondays 12:00 UTC, 21-day baseline)." in open_alert(rule, wf).description


def test_a_workflow_that_never_runs_at_this_hour_is_judged_against_all_hours(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, duration=lambda at, i: 3000, runs_at=lambda at: at.hour % 2 == 1)  # odd hours only
    window(world, wf, 8, duration_ms=20_000)  # 12:00, an even hour
    world.window_pass()
    assert open_alert(rule, wf).description.endswith(" s (all hours, 14-day baseline).")  # usually ~3 s


def test_a_workflow_without_enough_history_is_never_anomalous(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, hours=23)  # under a day: below every basis' minimum of hours
    window(world, wf, 10, duration_ms=60_000)
    world.window_pass()
    assert alerts_of(rule) == []


def test_the_baseline_is_computed_once_an_hour(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, duration=lambda at, i: 2000)
    world.window_pass()  # computes and caches this hour's baseline: usually 2 s
    history(world, wf, duration=lambda at, i: 20_000, prefix="slow")  # older runs reported late: 20 s is usual
    window(world, wf, 8, duration_ms=20_000)
    world.later(minutes=1)
    world.window_pass()
    assert open_alert(rule, wf) is not None  # judged against the cached baseline
    world.later(hours=1)  # the next hour's baseline sees the late runs
    window(world, wf, 8, duration_ms=20_000, prefix="again")
    assert world.window_pass()["resolved"] == 1


def test_the_next_hours_baselines_are_prepared_before_it_starts(world):
    """Beat prepares them at minute 50: the first pass of the next hour reads no rollups."""
    wf = world.workflow("billing")
    rule = world.rule("anomaly", DURATION)
    history(world, wf, duration=noisy(1))
    assert anomaly.prepare_baselines(now=world.now) == 1
    world.later(hours=1)
    window(world, wf, 12, duration_ms=41_000)
    with CaptureQueriesContext(connection) as captured:
        world.window_pass()
    assert not [q["sql"] for q in captured if "monitoring_executionrollup" in q["sql"]]
    assert "usually" in open_alert(rule, wf).description


# --- failure rate --------------------------------------------------------------------------------
def test_a_step_in_the_failure_rate_fires(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", FAILURES)
    history(world, wf, failed=lambda at, i: at.day % 7 == 0 and i == 0)  # one run in four fails on two days
    window(world, wf, 21, failures=8)
    world.window_pass()
    alert = open_alert(rule, wf)
    assert alert.alert_type == "error"  # routes on "error" get it, as error_rate's
    assert alert.title == "Anomaly: 38.1% of runs failed on BILLING"
    assert alert.description == ("38.1% of 21 runs failed in the last 15 min (8 failures), usually 0 % at this hour "
                                 "(12:00 UTC daily, 14-day baseline).")


def test_a_few_failures_more_than_usual_are_not_an_anomaly(world):
    wf = world.workflow("billing")
    rule = world.rule("anomaly", FAILURES)
    history(world, wf)
    window(world, wf, 40, failures=2)  # 5 %: under the 10-point floor, and only 2 failures
    world.window_pass()
    assert alerts_of(rule) == []


# --- scope ---------------------------------------------------------------------------------------
def test_a_rule_sees_only_its_teams_workflows_in_its_scope(world, other_team):
    ours, untagged = world.workflow("billing", tags=["money"]), world.workflow("reports")
    theirs = world.workflow("billing", tags=["money"], team=other_team)
    rule = world.rule("anomaly", DURATION, tag="money")
    for wf in (ours, untagged, theirs):
        history(world, wf, per_hour=2)
        window(world, wf, 8, duration_ms=60_000)
    world.window_pass()
    assert [a.workflow_id for a in alerts_of(rule)] == [ours.pk]


# --- the SQLite path -----------------------------------------------------------------------------
def test_the_raw_executions_give_the_baselines_the_rollups_give(world):
    wf = world.workflow("billing")
    history(world, wf, duration=noisy(5), failed=lambda at, i: (at.hour + i) % 5 == 0)
    team, hour = world.team.pk, rollups.floor_to(world.now, rollups.HOUR)
    for metric in (anomaly.DURATION, anomaly.FAILURE_RATE):
        seasonal = anomaly.compute_baselines(metric, 14, hour, teams=[team])[(team, wf.pk)]
        from_rollups = anomaly.compute_baselines(metric, 14, hour, workflows={wf.pk: team})[(team, wf.pk)]
        raw = anomaly._hourly_values_from_executions(metric, hour - timedelta(days=14), hour, [team], None, [wf.pk])
        from_rows = baselines.baseline_of(raw[(team, wf.pk)], hour)
        assert seasonal == from_rollups
        assert (from_rollups.basis, from_rollups.hours) == (from_rows.basis, from_rows.hours) == ("hour_of_day", 14)
        bound = rollups.PERCENTILE_BOUND if metric == anomaly.DURATION else 1e-9
        for field in ("median", "low", "high"):
            assert getattr(from_rollups, field) == pytest.approx(getattr(from_rows, field), rel=bound, abs=1)


# --- params --------------------------------------------------------------------------------------
def test_params_get_defaults_and_bad_ones_are_named():
    assert validate_params("anomaly", {}) == {
        "metric": "duration", "window_minutes": 15, "min_executions": 5, "baseline_days": 14, "sensitivity": 3,
        "min_factor": 1.5}
    assert validate_params("anomaly", FAILURES) == {
        "metric": "failure_rate", "window_minutes": 15, "min_executions": 5, "baseline_days": 14, "sensitivity": 3,
        "min_increase_points": 10, "min_failures": 3}
    with pytest.raises(Exception) as bad:
        validate_params("anomaly", {"metric": "p99", "baseline_days": 1, "sensitivity": 0, "min_failures": 2})
    assert bad.value.message_dict == {
        "metric": ["Must be one of: duration, failure_rate."], "baseline_days": ["Must be at least 2."],
        "sensitivity": ["Must be greater than 0."], "min_failures": ['Only for metric "failure_rate".']}


def test_the_api_answers_a_bad_param_with_a_json_400_naming_it(people):
    r = people["admin_a"].post("/api/v1/alert-rules/?team=acme", {
        "name": "Odd", "kind": "anomaly", "params": {"metric": "failure_rate", "min_factor": 2}}, format="json")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert "min_factor" in str(r.json())
    r = people["admin_a"].post("/api/v1/alert-rules/?team=acme", {
        "name": "Billing unusual", "kind": "anomaly", "params": FAILURES, "for_seconds": 600}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["params"]["min_increase_points"] == 10


def test_beat_prepares_the_baselines_at_minute_50_of_every_hour(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="alerts.tasks.prepare_anomaly_baselines")
    crontab = task.crontab
    assert task.enabled and (crontab.minute, crontab.hour, str(crontab.timezone)) == ("50", "*", "UTC")
