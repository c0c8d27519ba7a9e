"""The statistics of the anomaly rule kind, as plain functions of numbers (no database): a
workflow's usual value from its own past hours, which seasonal baseline applies, and whether the
value of the last window is far enough from it to fire or close enough to clear.

A baseline is a list of hourly values (each hour's p95 duration, or its failure rate) of one
workflow. It is summarised robustly: the median, the MAD (median absolute deviation, scaled by
1.4826 so it estimates a standard deviation for normal data) and the usual range, the 25th to
75th percentile of the hours. A few outlying hours (an incident last week) move none of them."""

from dataclasses import dataclass

MAD_SCALE = 1.4826  # MAD × this estimates σ for normally distributed values

# The seasonal baselines, most specific first, and the hours each needs before it is trusted:
# the same hour of the same weekday, else the same hour of any day, else every hour.
HOUR_OF_WEEK, HOUR_OF_DAY, ALL_HOURS = "hour_of_week", "hour_of_day", "all_hours"
MIN_HOURS = {HOUR_OF_WEEK: 3, HOUR_OF_DAY: 5, ALL_HOURS: 24}
BASES = tuple(MIN_HOURS)

WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


@dataclass(frozen=True)
class Baseline:
    """One workflow's usual value over some past hours."""

    basis: str  # HOUR_OF_WEEK, HOUR_OF_DAY or ALL_HOURS
    hours: int  # hours with runs that it summarises
    median: float
    mad: float  # scaled by MAD_SCALE
    low: float  # 25th percentile of the hours: the usual range's bottom
    high: float  # 75th percentile: the usual range's top


def quantile(sorted_values, q):
    """The q-quantile (0–1) of sorted values, interpolated as PostgreSQL's percentile_cont."""
    rank = q * (len(sorted_values) - 1)
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summarise(basis, values):
    """The Baseline of some hourly values, or None without any."""
    if not values:
        return None
    ordered = sorted(values)
    median = quantile(ordered, 0.5)
    mad = quantile(sorted(abs(v - median) for v in ordered), 0.5) * MAD_SCALE
    return Baseline(basis, len(ordered), median, mad, quantile(ordered, 0.25), quantile(ordered, 0.75))


def seasonal_groups(hourly, now_hour):
    """{basis: [values]} from hourly ({hour start (UTC): value}): the hours that fall on the same
    weekday and hour as `now_hour`, those on the same hour, and all of them."""
    groups = {basis: [] for basis in BASES}
    for start, value in hourly.items():
        if start.hour == now_hour.hour:
            if start.weekday() == now_hour.weekday():
                groups[HOUR_OF_WEEK].append(value)
            groups[HOUR_OF_DAY].append(value)
        groups[ALL_HOURS].append(value)
    return groups


def pick(baselines):
    """The most specific baseline with enough hours ({basis: Baseline or None}), or None: a
    workflow with too little history is never anomalous."""
    for basis in BASES:
        baseline = baselines.get(basis)
        if baseline is not None and baseline.hours >= MIN_HOURS[basis]:
            return baseline
    return None


def baseline_of(hourly, now_hour, bases=BASES):
    """The Baseline that applies at `now_hour` to a workflow's hourly values, or None (`bases`:
    the ones to consider, e.g. only the seasonal ones when `hourly` holds only this hour's)."""
    groups = seasonal_groups(hourly, now_hour)
    return pick({basis: summarise(basis, groups[basis]) for basis in bases})


# --- the decisions -------------------------------------------------------------------------------
def duration_bar(baseline, sensitivity, min_factor):
    """The p95 duration (ms) above which a window is anomalous: `sensitivity` robust deviations
    above the median, and at least `min_factor` × the usual range's top (with a steady workflow
    the MAD is ~0, and a few milliseconds more must not fire)."""
    return max(baseline.median + sensitivity * baseline.mad, baseline.high * min_factor)


def failure_bar(baseline, sensitivity, min_increase_points):
    """The failure rate (%) above which a window is anomalous: `sensitivity` robust deviations
    above the median, and at least `min_increase_points` above the usual range's top."""
    return max(baseline.median + sensitivity * baseline.mad, baseline.high + min_increase_points)


def still_anomalous(value, baseline, tolerance=0.0):
    """Whether a firing anomaly keeps holding: until the window is back within the usual range
    (at or below its top, give or take `tolerance`, a share: the baseline's durations are histogram
    estimates), so a value hovering around the bar does not fire and clear in turn."""
    return value > baseline.high * (1 + tolerance)


# --- the wording ---------------------------------------------------------------------------------
def basis_label(basis, now_hour, baseline_days):
    """Which baseline applied, as the alert says it after the usual range: "at this hour
    (Tuesdays 14:00 UTC, 28-day baseline)", "… (14:00 UTC daily, …)", "(all hours, …)"."""
    if basis == HOUR_OF_WEEK:
        return f"at this hour ({WEEKDAYS[now_hour.weekday()]} {now_hour:%H}:00 UTC, {baseline_days}-day baseline)"
    if basis == HOUR_OF_DAY:
        return f"at this hour ({now_hour:%H}:00 UTC daily, {baseline_days}-day baseline)"
    return f"(all hours, {baseline_days}-day baseline)"


def format_duration(ms, unit=None):
    """A duration for people: "850 ms", "6.2 s", "7 s", "41 s", "2.5 min"; `unit` forces one ("s")."""
    unit = unit or duration_unit(ms)
    if unit == "ms":
        return f"{ms:,.0f} ms"
    value = ms / (1000 if unit == "s" else 60_000)
    number = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:,.0f}"
    return f"{number} {unit}"


def duration_unit(ms):
    return "ms" if ms < 1000 else "s" if ms < 120_000 else "min"


def format_range(low, high, formatter, unit=None):
    """"6–9 s": a usual range with one unit."""
    if round(low) == round(high):
        return formatter(high, unit)
    return f"{formatter(low, unit).rsplit(' ', 1)[0]}–{formatter(high, unit)}"
