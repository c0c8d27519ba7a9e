"""The anomaly kind's statistics (alerts/rules/baselines.py), no database: the robust summary of a
workflow's hourly values, which seasonal baseline applies, the bars that fire and clear, and the
wording of durations, ranges and baselines."""

from datetime import UTC, datetime, timedelta

import pytest

from alerts.rules import baselines as b

TUESDAY_14 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def test_the_summary_is_the_median_the_scaled_mad_and_the_quartiles():
    baseline = b.summarise(b.ALL_HOURS, [6, 7, 7, 8, 9])
    assert (baseline.hours, baseline.median, baseline.low, baseline.high) == (5, 7, 7, 8)
    assert baseline.mad == pytest.approx(1 * 1.4826)  # deviations 1, 0, 0, 1, 2: median 1


def test_an_incident_hour_moves_neither_the_median_nor_the_usual_range_much():
    calm = b.summarise(b.ALL_HOURS, [7000] * 10 + [8000] * 10)
    with_incident = b.summarise(b.ALL_HOURS, [7000] * 10 + [8000] * 9 + [600_000])
    assert with_incident.median == calm.median and with_incident.low == calm.low
    assert with_incident.high == calm.high and with_incident.mad == calm.mad


def test_quantiles_interpolate_as_percentile_cont():
    assert b.quantile([1, 2, 3, 4], 0.5) == 2.5
    assert b.quantile([10, 20], 0.95) == pytest.approx(19.5)
    assert b.quantile([5], 0.25) == 5


def hourly(days, value=lambda at: 1000.0):
    start = TUESDAY_14 - timedelta(days=days)
    return {start + timedelta(hours=h): value(start + timedelta(hours=h)) for h in range(days * 24)}


def test_the_most_specific_baseline_with_enough_hours_applies():
    assert b.baseline_of(hourly(21), TUESDAY_14).basis == b.HOUR_OF_WEEK  # 3 Tuesdays 14:00
    assert b.baseline_of(hourly(14), TUESDAY_14).basis == b.HOUR_OF_DAY  # 2 Tuesdays: too few; 14 days at 14:00
    assert b.baseline_of(hourly(4), TUESDAY_14).basis == b.ALL_HOURS  # 4 days at 14:00: too few; 96 hours
    assert b.baseline_of(dict(list(hourly(1).items())[:23]), TUESDAY_14) is None  # under a day


def test_the_seasonal_baseline_is_that_hours_own():
    values = hourly(21, lambda at: 30_000.0 if (at.weekday(), at.hour) == (1, 14) else 1000.0)
    assert b.baseline_of(values, TUESDAY_14).median == 30_000
    assert b.baseline_of(values, TUESDAY_14 + timedelta(days=1)).median == 1000


def test_duration_fires_above_the_robust_bar_and_at_least_the_factor_over_the_usual_top():
    steady = b.Baseline(b.HOUR_OF_DAY, 14, median=7000, mad=0, low=7000, high=7000)
    assert b.duration_bar(steady, 3, 1.5) == 10_500  # MAD 0: the factor decides
    spread = b.Baseline(b.HOUR_OF_DAY, 14, median=7000, mad=2000, low=6000, high=8000)
    assert b.duration_bar(spread, 3, 1.5) == 13_000  # 7 s + 3 × 2 s


def test_failure_rate_fires_some_points_over_the_usual_top():
    usual = b.Baseline(b.ALL_HOURS, 300, median=0, mad=0, low=0, high=2)
    assert b.failure_bar(usual, 3, 10) == 12
    assert b.failure_bar(b.Baseline(b.ALL_HOURS, 300, 20, 10, 10, 30), 3, 10) == 50


def test_a_firing_anomaly_holds_until_back_within_the_usual_range():
    usual = b.Baseline(b.HOUR_OF_DAY, 14, median=7000, mad=500, low=6000, high=9000)
    assert b.still_anomalous(9001, usual) and not b.still_anomalous(9000, usual)
    assert not b.still_anomalous(9200, usual, tolerance=0.025)  # within the histogram's estimate of the top


def test_wording():
    assert b.basis_label(b.HOUR_OF_WEEK, TUESDAY_14, 28) == "at this hour (Tuesdays 14:00 UTC, 28-day baseline)"
    assert b.basis_label(b.HOUR_OF_DAY, TUESDAY_14, 14) == "at this hour (14:00 UTC daily, 14-day baseline)"
    assert b.basis_label(b.ALL_HOURS, TUESDAY_14, 14) == "(all hours, 14-day baseline)"
    assert [b.format_duration(ms) for ms in (850, 6200, 7000, 41_000, 150_000)] == [
        "850 ms", "6.2 s", "7 s", "41 s", "2.5 min"]
    assert b.format_range(6000, 9000, b.format_duration, "s") == "6–9 s"
    assert b.format_range(600, 9040, b.format_duration, "s") == "0.6–9 s"
    assert b.format_range(7000, 7000, b.format_duration, "s") == "7 s"
