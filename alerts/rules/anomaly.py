"""Anomaly: a workflow's p95 duration (metric "duration") or failure rate ("failure_rate") over the
last window_minutes is far above its own usual value at this hour, with no threshold to guess:
the usual value comes from the workflow's hourly rollups of the last baseline_days (the same hour
of the week, else of the day, else all hours), robustly (median and MAD), and the window fires
once at least min_executions finished and it is `sensitivity` robust deviations above the median
and clearly above the usual range (duration: min_factor × its top; failure rate: min_increase_points
above it, with at least min_failures failures). A window rule; once firing it clears when the
window is back within the usual range."""

from collections import defaultdict
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from monitoring import rollups
from monitoring.models import FAILED_STATES, AlertType, Execution

from ..models import AlertRule, RuleState
from . import baselines, queries
from .base import Observation, RuleKind, workflow_label
from .params import ParamReader

DURATION, FAILURE_RATE = "duration", "failure_rate"
# The baseline of a team is computed once an hour (it excludes the current hour, so it does not
# change within it) and kept a little longer than that in the cache.
CACHE_SECONDS = 2 * 3600


class Anomaly(RuleKind):
    kind = "anomaly"
    alert_type = AlertType.PERFORMANCE

    def validate(self, params):
        reader = ParamReader(params)
        reader.choice("metric", (DURATION, FAILURE_RATE), default=DURATION)
        reader.minutes("window_minutes", default=15)
        reader.number("min_executions", default=5, minimum=1, maximum=100_000, integer=True)
        reader.number("baseline_days", default=14, minimum=2, maximum=35, integer=True)
        reader.number("sensitivity", default=3, above=0, maximum=20)
        if reader.out.get("metric") == FAILURE_RATE:
            reader.number("min_increase_points", default=10, above=0, maximum=100)
            reader.number("min_failures", default=3, minimum=1, maximum=100_000, integer=True)
            reader.refuse("min_factor", 'Only for metric "duration".')
        else:
            reader.number("min_factor", default=1.5, minimum=1, maximum=100)
            reader.refuse("min_increase_points", 'Only for metric "failure_rate".')
            reader.refuse("min_failures", 'Only for metric "failure_rate".')
        return reader.cleaned()

    def alert_type_for(self, rule):
        return AlertType.ERROR if rule.params["metric"] == FAILURE_RATE else AlertType.PERFORMANCE

    def is_window_rule(self, rule):
        return True

    def evaluate_window(self, rules, scope, now):
        hour = rollups.floor_to(now, rollups.HOUR)
        firing = _firing_states()
        by_baseline, by_window = defaultdict(set), defaultdict(set)
        for rule in rules:
            by_baseline[(rule.params["metric"], rule.params["baseline_days"])].add(rule.team_id)
            by_window[(rule.params["metric"], rule.params["window_minutes"])].add(rule.team_id)
        # One query per distinct (metric, baseline_days) for the teams not cached this hour, one per
        # distinct (metric, window): whatever the number of rules and workflows.
        usual = {key: team_baselines(*key, teams, hour) for key, teams in by_baseline.items()}
        window = {(metric, minutes): _window_values(metric, now - timedelta(minutes=minutes), teams)
                  for (metric, minutes), teams in by_window.items()}
        _add_all_hours_baselines(rules, scope, usual, window, hour)
        found = {}
        for rule in rules:
            p = rule.params
            usual_of, measured = usual[(p["metric"], p["baseline_days"])], window[(p["metric"], p["window_minutes"])]
            holding = found[rule.pk] = {}
            for workflow in scope.workflows(rule):
                baseline = usual_of.get(workflow.pk)
                if baseline is None:
                    continue
                seen = _judge(rule, baseline, measured.get(workflow.pk), (rule.pk, workflow.pk) in firing)
                if seen is not None:
                    basis = baselines.basis_label(baseline.basis, hour, p["baseline_days"])
                    holding[workflow.pk] = Observation(workflow.pk, True, now, value=seen.pop("value"),
                                                       facts={**seen, "basis": basis})
        return found

    def describe(self, rule, workflow, observation):
        name, facts, params = workflow_label(workflow), observation.facts, rule.params
        window = f"in the last {params['window_minutes']} min"
        if params["metric"] == FAILURE_RATE:
            title = f"Anomaly: {observation.value:g}% of runs failed on {name}"
            if not facts:
                return title, f"{observation.value:g}% of the runs that finished {window} failed, far above usual."
            usual = baselines.format_range(facts["low"], facts["high"], _percent)
            return title, (f"{observation.value:g}% of {facts['runs']} runs failed {window} "
                           f"({facts['failed']} failures), usually {usual} {facts['basis']}.")
        value = baselines.format_duration(observation.value)
        title = f"Anomaly: p95 duration {value} on {name}"
        if not facts:
            return title, f"The p95 duration {window} is {value}, far above usual."
        usual = baselines.format_range(facts["low"], facts["high"], baselines.format_duration,
                                       baselines.duration_unit(facts["high"]))
        return title, (f"p95 duration {value} over {facts['runs']} runs {window}, "
                       f"usually {usual} {facts['basis']}.")


def _percent(value, unit=None):
    return f"{value:.0f} %" if value >= 10 or value == round(value) else f"{value:.1f} %"


def _judge(rule, baseline, measured, firing):
    """The observation's value and facts when the window is anomalous (or, for a condition
    already firing, not yet back within the usual range); None otherwise."""
    p = rule.params
    usual = {"low": baseline.low, "high": baseline.high, "median": baseline.median, "hours": baseline.hours}
    if p["metric"] == FAILURE_RATE:
        failed, finished = measured or (0, 0)
        if finished < p["min_executions"]:
            return None
        rate = failed * 100 / finished
        if firing:
            holds = baselines.still_anomalous(rate, baseline)
        else:
            holds = (failed >= p["min_failures"]
                     and rate > baselines.failure_bar(baseline, p["sensitivity"], p["min_increase_points"]))
        return {"value": round(rate, 1), "runs": finished, "failed": failed, **usual} if holds else None
    p95, runs = measured or (None, 0)
    if runs < p["min_executions"]:
        return None
    if firing:
        holds = baselines.still_anomalous(p95, baseline, rollups.PERCENTILE_BOUND)
    else:
        holds = p95 > baselines.duration_bar(baseline, p["sensitivity"], p["min_factor"])
    return {"value": round(p95), "runs": runs, **usual} if holds else None


def _firing_states():
    """(rule pk, workflow pk) of the anomaly conditions firing now: they hold until the window
    is back within the usual range, the others need the full bar to start."""
    return set(RuleState.objects.filter(rule__kind=Anomaly.kind, firing=True).values_list("rule_id", "workflow_id"))


def _window_values(metric, since, team_ids):
    """{workflow pk: (failed, finished)} or {workflow pk: (p95 ms, runs)} since `since`."""
    if metric == FAILURE_RATE:
        return queries.outcome_counts(since, team_ids)
    return queries.duration_p95(since, team_ids)


# --- baselines ---------------------------------------------------------------------------------------
# The seasonal baselines (same hour of the week or of the day) of every workflow of the teams come
# from one query over the rollups of those hours only (baseline_days rows a workflow and bin), cached
# per team for the hour. A workflow without enough runs at this hour falls back to all hours: that
# reads every hour of its baseline, so it is done only for the workflows that need it now (no
# seasonal baseline, enough runs in the window to be judged), cached per workflow for the hour.
def _add_all_hours_baselines(rules, scope, usual, window, hour):
    """Fill `usual` with the all-hours baselines of the workflows that need one this pass."""
    wanted = defaultdict(dict)  # (metric, days) -> {workflow pk: team pk}
    for rule in rules:
        p = rule.params
        usual_of, measured = usual[(p["metric"], p["baseline_days"])], window[(p["metric"], p["window_minutes"])]
        for workflow in scope.workflows(rule):
            runs = (measured.get(workflow.pk) or (0, 0))[1]
            if workflow.pk not in usual_of and runs >= p["min_executions"]:
                wanted[(p["metric"], p["baseline_days"])][workflow.pk] = workflow.team_id
    for (metric, days), workflows in wanted.items():
        usual[(metric, days)].update(workflow_baselines(metric, days, workflows, hour))


def prepare_baselines(now=None):
    """Compute and cache the next hour's seasonal baselines of every team with an enabled anomaly
    rule (beat, at minute 50): the first window pass of the hour then finds them in the cache
    instead of scanning the rollups while every other rule of that pass waits. Returns the number
    of (metric, baseline_days) sets prepared."""
    hour = rollups.floor_to(now or timezone.now(), rollups.HOUR) + timedelta(hours=1)
    wanted = defaultdict(set)
    for team_id, params in AlertRule.objects.filter(enabled=True, kind=Anomaly.kind).values_list("team_id", "params"):
        try:
            cleaned = KIND.validate(params)
        except ValidationError:
            continue  # skipped by evaluation too
        wanted[(cleaned["metric"], cleaned["baseline_days"])].add(team_id)
    for (metric, days), team_ids in wanted.items():
        team_baselines(metric, days, team_ids, hour)
    return len(wanted)


def cache_key(metric, days, owner, hour):
    """Where the baselines of one hour are cached: a team's seasonal ones (owner "team<pk>") or a
    workflow's all-hours one ("wf<pk>")."""
    return f"alerts:anomaly:{metric}:{days}:{owner}:{hour:%Y%m%dT%H}"


def team_baselines(metric, days, team_ids, hour):
    """{workflow pk: Baseline} of the teams' workflows with a seasonal baseline at `hour` (the start
    of the current hour): from the cache, the teams missing from it computed in one query."""
    keys = {team_id: cache_key(metric, days, f"team{team_id}", hour) for team_id in team_ids}
    cached = cache.get_many(keys.values())
    missing = [team_id for team_id, key in keys.items() if key not in cached]
    if missing:
        fresh = {keys[team_id]: {} for team_id in missing}
        for (team_id, workflow_id), baseline in compute_baselines(metric, days, hour, teams=missing).items():
            fresh[keys[team_id]][workflow_id] = tuple(vars(baseline).values())
        cache.set_many(fresh, CACHE_SECONDS)
        cached.update(fresh)
    return {wf: baselines.Baseline(*row) for by_workflow in cached.values() for wf, row in by_workflow.items()}


def workflow_baselines(metric, days, workflows, hour):
    """{workflow pk: Baseline} over all hours for some workflows ({pk: team pk}), those not cached
    this hour computed in one query; a workflow with too little history has none (cached so too)."""
    keys = {wf: cache_key(metric, days, f"wf{wf}", hour) for wf in workflows}
    cached = cache.get_many(keys.values())
    missing = {wf: team for wf, team in workflows.items() if keys[wf] not in cached}
    if missing:
        computed = compute_baselines(metric, days, hour, workflows=missing)
        fresh = {keys[wf]: tuple(vars(computed[(team, wf)]).values()) if (team, wf) in computed else ()
                 for wf, team in missing.items()}
        cache.set_many(fresh, CACHE_SECONDS)
        cached.update(fresh)
    return {wf: baselines.Baseline(*cached[key]) for wf, key in keys.items() if cached[key]}


def compute_baselines(metric, days, hour, teams=None, workflows=None):
    """{(team pk, workflow pk): Baseline} at `hour` over the hours [hour - days, hour): for all the
    workflows of `teams` the seasonal ones only (the same hour of the week or of the day), for
    `workflows` ({pk: team pk}) every basis. From the workflow-hour rollups on PostgreSQL, from
    the raw executions elsewhere (SQLite, the demo)."""
    since = hour - timedelta(days=days)
    if teams is not None:
        same_hours = [hour - timedelta(days=d) for d in range(1, days + 1)]
        hourly = _hourly_values(metric, since, hour, teams=list(teams), hours=same_hours)
        bases = (baselines.HOUR_OF_WEEK, baselines.HOUR_OF_DAY)
    else:
        hourly = _hourly_values(metric, since, hour, teams=sorted(set(workflows.values())), workflows=list(workflows))
        bases = baselines.BASES
    out = {}
    for key, values in hourly.items():
        if (baseline := baselines.baseline_of(values, hour, bases)) is not None:
            out[key] = baseline
    return out


def _bin_value(column):
    """rollups.bin_value() in SQL: the geometric middle of a duration bin."""
    return f"(CASE WHEN {column} <= 0 THEN 0 ELSE power({rollups.BIN_BASE}::float8, {column} - 0.5) END)"


_ROWS = """level = 1 AND team_id = ANY(%(teams)s) AND bucket_start >= %(since)s AND bucket_start < %(until)s
           AND {which}"""
# Each hour's value: the failure rate of its finished runs, or the p95 of their durations from the
# rollup's histogram (rollups.histogram_percentile's interpolation, in SQL).
_HOURLY = {
    FAILURE_RATE: """
        SELECT team_id, workflow_id, bucket_start, sum(error + crashed)::float8 * 100 / sum(success + error + crashed)
        FROM monitoring_executionrollup WHERE {rows}
        GROUP BY team_id, workflow_id, bucket_start HAVING sum(success + error + crashed) > 0""",
    DURATION: f"""
        SELECT team_id, wf, hr,
               ({_bin_value('lo')} + ({_bin_value('hi')} - {_bin_value('lo')}) * (k - floor(k)))::float8
        FROM (SELECT team_id, wf, hr, (max(total) - 1) * 0.95 AS k,
                     min(bin) FILTER (WHERE upto > floor((total - 1) * 0.95)) AS lo,
                     min(bin) FILTER (WHERE upto > least(floor((total - 1) * 0.95) + 1, total - 1)) AS hi
              FROM (SELECT team_id, workflow_id AS wf, bucket_start AS hr, duration_bucket AS bin,
                           sum(success + error + crashed) OVER w AS upto,
                           sum(success + error + crashed) OVER (PARTITION BY workflow_id, bucket_start) AS total
                    FROM monitoring_executionrollup
                    WHERE {{rows}} AND duration_bucket >= 0 AND success + error + crashed > 0
                    WINDOW w AS (PARTITION BY workflow_id, bucket_start ORDER BY duration_bucket)) AS c
              GROUP BY team_id, wf, hr) AS h""",
}


def _hourly_values(metric, since, until, teams, hours=None, workflows=None):
    """{(team pk, workflow pk): {hour start: value}} over [since, until): at the `hours` given for
    every workflow of `teams`, or at every hour for the `workflows` given."""
    if not rollups.available():
        return _hourly_values_from_executions(metric, since, until, teams, hours, workflows)
    # A seasonal read filters on the hours (a scan of the rollups: no index leads with the hour); a
    # per-workflow read joins the workflows' pks (a hash: `= ANY` of thousands is tested one by one).
    if hours is not None:
        which = "bucket_start = ANY(%(hours)s)"
    else:
        which = "workflow_id IN (SELECT unnest(%(workflows)s::bigint[]))"
    sql = _HOURLY[metric].format(rows=_ROWS.format(which=which))
    params = {"teams": teams, "since": since, "until": until, "hours": hours, "workflows": workflows}
    out = defaultdict(dict)
    with transaction.atomic(), connection.cursor() as cursor:
        # Once an hour, a few hundred thousand rows: parallel workers and JIT compilation (0.5 s
        # for this statement) cost more than they save.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        for team_id, wf, hr, value in cursor.fetchall():
            out[(team_id, wf)][hr] = value
    return out


def _hourly_values_from_executions(metric, since, until, teams, hours, workflows):
    """The same from the raw executions (no rollups on SQLite): exact hourly p95s."""
    rows = Execution.objects.filter(state__in=queries.FINISHED_STATES, started_at__gte=since, started_at__lt=until,
                                    workflow__team_id__in=teams)
    if workflows is not None:
        rows = rows.filter(workflow_id__in=workflows)
    wanted = set(hours) if hours is not None else None
    by_hour = defaultdict(lambda: defaultdict(list))
    for team_id, wf, started, state, duration in rows.values_list(
            "workflow__team_id", "workflow_id", "started_at", "state", "duration_ms").iterator(chunk_size=5000):
        hour = rollups.floor_to(started, rollups.HOUR)
        if wanted is not None and hour not in wanted:
            continue
        if metric == FAILURE_RATE:
            by_hour[(team_id, wf)][hour].append(100.0 if state in FAILED_STATES else 0.0)
        elif duration is not None:
            by_hour[(team_id, wf)][hour].append(duration)
    if metric == FAILURE_RATE:
        return {key: {h: sum(v) / len(v) for h, v in hours_.items()} for key, hours_ in by_hour.items()}
    return {key: {h: baselines.quantile(sorted(v), 0.95) for h, v in hours_.items()} for key, hours_ in by_hour.items()}


KIND = Anomaly()
