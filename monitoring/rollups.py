"""Reading the hourly and daily rollups of executions and errors (docs/rollups.md).

PostgreSQL triggers keep the rollups exact (migration monitoring 0010): per workflow and per team,
per hour and per UTC day, executions by state with their duration sum, split by a log-spaced
duration bin (the histogram percentiles are estimated from), and errors by severity. A reader
asks for a time range and gets exact counts: the whole days and hours inside it come from the
rollups, the partial hours at its edges from the raw rows (an index range each; or the edge
hour's rollup less the raw rows outside the period, when that is the shorter range). Percentiles
are estimated from the bins: within PERCENTILE_BOUND of percentile_cont's value.

Only PostgreSQL has the triggers: `available()` says whether to read here, else the callers
compute from the raw rows as before (SQLite in the demo).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import Execution, Team, Workflow, WorkflowError

HOUR, QUARTER_DAY, DAY = timedelta(hours=1), timedelta(hours=6), timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
BIN_BASE = 1.05  # flowtower_duration_bucket in migration 0010: bins 5 % wide
# An estimated percentile is within this share of percentile_cont's (plus 0.5 ms of rounding):
# each rank's value is taken as its bin's geometric middle, at most sqrt(1.05) - 1 away.
PERCENTILE_BOUND = BIN_BASE ** 0.5 - 1
LEVELS = {("workflow", HOUR): 1, ("workflow", DAY): 2, ("team", HOUR): 3, ("team", DAY): 4, ("team", QUARTER_DAY): 5}


def available():
    return connection.vendor == "postgresql"


def floor_to(moment, step):
    """`moment` rounded down to a multiple of `step` since the epoch (hours, days: UTC)."""
    return moment - (moment - EPOCH) % step


def ceil_to(moment, step):
    down = floor_to(moment, step)
    return down if down == moment else down + step


def bin_value(duration_bin):
    """The duration (ms) a histogram bin stands for: the geometric middle of its range."""
    return 0.0 if duration_bin <= 0 else BIN_BASE ** (duration_bin - 0.5)


def histogram_percentile(histogram, p):
    """The p-th percentile (0-100) of the durations in `histogram` ({bin: count}), by
    percentile_cont's interpolation between ranks, each rank valued at its bin's middle."""
    bins = sorted((b, n) for b, n in histogram.items() if b >= 0 and n > 0)
    total = sum(n for _, n in bins)
    if not total:
        return None
    k = (total - 1) * (p / 100)
    low = int(k)
    high = min(low + 1, total - 1)

    def at(rank):
        seen = 0
        for b, n in bins:
            seen += n
            if rank < seen:
                return bin_value(b)
        return bin_value(bins[-1][0])

    low_value = at(low)
    return round(low_value + (at(high) - low_value) * (k - low))


@dataclass
class Totals:
    """Executions of a range (or of one chart bucket, one workflow) and their duration histogram."""

    total: int = 0
    success: int = 0
    error: int = 0
    crashed: int = 0
    canceled: int = 0
    duration_sum: int = 0
    histogram: dict = field(default_factory=lambda: defaultdict(int))

    @property
    def failed(self):
        return self.error + self.crashed

    @property
    def finished(self):
        return self.success + self.error + self.crashed + self.canceled

    @property
    def timed(self):
        return sum(n for b, n in self.histogram.items() if b >= 0)

    def percentile(self, p):
        return histogram_percentile(self.histogram, p)


# --- which rows: a team's or some workflows' ---------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Whose executions: whole teams (team rollups) or some workflows (workflow rollups)."""

    kind: str  # "team" | "workflow"
    team_ids: tuple
    workflow_ids: tuple = ()


def teams_target(team_ids):
    """Teams by id; None means every team (a super admin)."""
    if team_ids is None:
        team_ids = Team.objects.values_list("pk", flat=True)
    return Target("team", tuple(sorted(team_ids)))


def workflows_target(workflows):
    """Workflows as (pk, team id) pairs or Workflow objects."""
    pairs = sorted((w.pk, w.team_id) if isinstance(w, Workflow) else tuple(w) for w in workflows)
    return Target("workflow", tuple(sorted({t for _, t in pairs})), tuple(pk for pk, _ in pairs))


def _rollup_filter(target):
    sql = "level = %s AND team_id = ANY(%s) AND COALESCE(workflow_id, 0) = ANY(%s)"
    return sql, [list(target.team_ids), list(target.workflow_ids) if target.kind == "workflow" else [0]]


def _raw_filter(target, alias):
    if target.kind == "workflow":
        return f"{alias}.workflow_id = ANY(%s)", [list(target.workflow_ids)]
    return (f"{alias}.workflow_id IN (SELECT id FROM monitoring_workflow WHERE team_id = ANY(%s))",
            [list(target.team_ids)])


# --- which pieces: raw edges, whole hours, whole days ------------------------------------------


def segments(start, end, coarse=DAY, middle=None):
    """[start, end] (end None: no end) as pieces: ("raw", lo, lo_inclusive, hi, hi_inclusive, sign)
    for the partial hours at the edges, (HOUR | middle | coarse, lo, hi) for whole hours and whole
    coarse buckets (DAY, or QUARTER_DAY for team rows; None: hours only; hi None: no end); `middle`
    (QUARTER_DAY for team rows) serves the whole hours beside the coarse buckets where it fits:
    3 team rows instead of 18 hour rows for 06:00-24:00, per team and bin. A partial hour
    is read raw, or as its hour's rollup less the raw rows outside the period, whichever spans
    less time: at most half an hour of raw rows at each edge, and next to nothing for a period
    ending now (only clock-skewed rows start after now)."""
    h0 = ceil_to(start, HOUR)
    hb = None if end is None else floor_to(end, HOUR)
    if hb is not None and hb < h0:
        return [raw(start, end)]
    pieces = _start_edge(start, h0) if start < h0 else []
    c0 = ceil_to(h0, coarse) if coarse else None
    c1 = None if hb is None or not coarse else floor_to(hb, coarse)
    if coarse and (c1 is None or c0 < c1):
        if h0 < c0:
            pieces.extend(_whole_hours(h0, c0, middle))
        pieces.append((coarse, c0, c1))
        if c1 is not None and c1 < hb:
            pieces.extend(_whole_hours(c1, hb, middle))
    elif hb is None or h0 < hb:
        pieces.append((HOUR, h0, hb))
    if hb is not None:
        pieces.extend(_end_edge(hb, end))
    return pieces


def _whole_hours(lo, hi, middle):
    """[lo, hi), whole hours: as `middle` buckets where they fit, hours around them."""
    m0, m1 = (ceil_to(lo, middle), floor_to(hi, middle)) if middle else (None, None)
    if not middle or m1 <= m0:
        return [(HOUR, lo, hi)]
    return [*([(HOUR, lo, m0)] if lo < m0 else []), (middle, m0, m1), *([(HOUR, m1, hi)] if m1 < hi else [])]


def raw(lo, hi, lo_inclusive=True, hi_inclusive=True, sign=1):
    """A piece read from the raw rows: [lo, hi] (hi None: no end), or less it with sign -1."""
    return ("raw", lo, lo_inclusive, hi, hi_inclusive, sign)


def _start_edge(start, h0):
    """[start, h0), h0 the next whole hour."""
    if h0 - start <= HOUR / 2:
        return [raw(start, h0, hi_inclusive=False)]
    return [(HOUR, h0 - HOUR, h0), raw(h0 - HOUR, start, hi_inclusive=False, sign=-1)]


def _end_edge(hb, end):
    """[hb, end], hb the whole hour before end."""
    if end - hb <= HOUR / 2:
        return [raw(hb, end)]
    return [(HOUR, hb, hb + HOUR), raw(end, hb + HOUR, lo_inclusive=False, hi_inclusive=False, sign=-1)]


def _range(column, lo, hi, lo_inclusive=True, hi_inclusive=False):
    sql, params = f"{column} {'>=' if lo_inclusive else '>'} %s", [lo]
    if hi is not None:
        sql += f" AND {column} {'<=' if hi_inclusive else '<'} %s"
        params.append(hi)
    return sql, params


def _group(column, grouping, alias=""):
    """SQL for the group a row falls in: 0, its workflow, or its chart bucket (start, step, count)."""
    if grouping is None:
        return "0", []
    if grouping == "workflow":
        return f"{alias}workflow_id", []
    chart_start, step, count = grouping
    # date_part, not EXTRACT: a double, where EXTRACT's numeric costs ~1 µs a row.
    return (f"LEAST(GREATEST(FLOOR(date_part('epoch', {column} - %s) / %s), 0), %s)::int",
            [chart_start, int(step.total_seconds()), count - 1])


def _fetch(sql, params):
    """Rows of a rollup read, planned without parallel workers and without JIT: the read sums a few
    thousand rows in a millisecond or two, where starting workers costs tens and compiling ~40 ms
    (the planner misjudges the rows the pieces bring). SET LOCAL ends with the transaction (this
    one, or the caller's)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


EXEC_SUMS = ("sum(total)::bigint, sum(success)::bigint, sum(error)::bigint, sum(crashed)::bigint, "
             "sum(canceled)::bigint, sum(duration_sum)::bigint")
RAW_EXEC_SUMS = ("count(*)", "count(*) FILTER (WHERE e.state = 'success')", "count(*) FILTER (WHERE e.state = 'error')",
                 "count(*) FILTER (WHERE e.state = 'crashed')", "count(*) FILTER (WHERE e.state = 'canceled')",
                 "coalesce(sum(e.duration_ms), 0)")
RAW_ERROR_SUMS = ("count(*)", "count(*) FILTER (WHERE e.severity = 'critical')",
                  "count(*) FILTER (WHERE e.severity = 'critical' AND NOT e.resolved)",
                  "count(*) FILTER (WHERE e.severity = 'high' AND NOT e.resolved)")


def _signed(sums, sign):
    """The raw sums' SELECT list, negated for a piece taken off (sign -1)."""
    return ", ".join(sums if sign == 1 else (f"-({s})" for s in sums))


def _execution_piece(target, piece, grouping):
    """(SQL, params) of one piece: (group, bin, the six sums) from raw executions or rollup rows."""
    if piece[0] == "raw":
        _, lo, lo_inclusive, hi, hi_inclusive, sign = piece
        group, gparams = _group("e.started_at", grouping, "e.")
        where, wparams = _raw_filter(target, "e")
        rng, rparams = _range("e.started_at", lo, hi, lo_inclusive, hi_inclusive)
        sql = (f"SELECT {group} AS grp, flowtower_duration_bucket(e.duration_ms) AS bin, "
               f"{_signed(RAW_EXEC_SUMS, sign)} FROM {Execution._meta.db_table} e WHERE {where} AND {rng} "
               "GROUP BY 1, 2")
        return sql, [*gparams, *wparams, *rparams]
    group, gparams = _group("bucket_start", grouping)
    where, wparams = _rollup_filter(target)
    rng, rparams = _range("bucket_start", piece[1], piece[2])
    level = LEVELS[(target.kind, piece[0])]
    sql = (f"SELECT {group} AS grp, duration_bucket AS bin, {EXEC_SUMS} FROM monitoring_executionrollup "
           f"WHERE {where} AND {rng} GROUP BY 1, 2")
    return sql, [*gparams, level, *wparams, *rparams]


def executions(target, start, end=None, grouping=None, coarse=DAY, raw_only=False):
    """group -> Totals of the target's executions started in [start, end] (end None: from start
    on). grouping: None (one group, 0), "workflow" (by workflow id) or (chart start, step, count)
    (by chart bucket: coarse must then be a multiple of the step, or None; raw_only for steps
    under an hour). One query."""
    if not target.team_ids:
        return {}
    # Team rows have 6-hour rows too, which fall within one day (and one daily chart bucket).
    middle = QUARTER_DAY if target.kind == "team" and coarse == DAY else None
    parts = [raw(start, end)] if raw_only else segments(start, end, coarse, middle)
    union, params = _pieces_sql([_execution_piece(target, piece, grouping) for piece in parts])
    rows = _fetch("SELECT grp, bin, sum(s1)::bigint, sum(s2)::bigint, sum(s3)::bigint, sum(s4)::bigint, "
                  f"sum(s5)::bigint, sum(s6)::bigint FROM ({union}) AS pieces GROUP BY grp, bin", params)
    out = defaultdict(Totals)
    for grp, duration_bin, total, success, error, crashed, canceled, duration_sum in rows:
        t = out[grp]
        t.total += int(total)
        t.success += int(success)
        t.error += int(error)
        t.crashed += int(crashed)
        t.canceled += int(canceled)
        t.duration_sum += int(duration_sum)
        t.histogram[duration_bin] += int(total)
    return dict(out)


def successes(target, start, end=None):
    """workflow id -> successful executions started in [start, end] of a workflow target, pieced as
    executions() pieces a period but summing `success` alone: executions() groups by duration bin
    too, which for 1,000 workflows over 30 days is ~600k rows grouped into 70k (spilling to disk,
    ~0.6 s on the bench dataset) where the successes are 1,000 sums. One query."""
    pieces = []
    for piece in segments(start, end):
        if piece[0] == "raw":
            _, lo, lo_inclusive, hi, hi_inclusive, sign = piece
            where, wparams = _raw_filter(target, "e")
            rng, rparams = _range("e.started_at", lo, hi, lo_inclusive, hi_inclusive)
            pieces.append((f"SELECT e.workflow_id, {int(sign)} * count(*) FROM {Execution._meta.db_table} e "
                           f"WHERE {where} AND e.state = 'success' AND {rng} GROUP BY 1", [*wparams, *rparams]))
        else:
            where, wparams = _rollup_filter(target)
            rng, rparams = _range("bucket_start", piece[1], piece[2])
            pieces.append((f"SELECT workflow_id, sum(success) FROM monitoring_executionrollup WHERE {where} AND {rng} "
                           "GROUP BY 1", [LEVELS[(target.kind, piece[0])], *wparams, *rparams]))
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS p{i}(wf, n)" for i, (sql, _) in enumerate(pieces))
    rows = _fetch(f"SELECT wf, sum(n)::bigint FROM ({union}) AS pieces GROUP BY wf", [x for _, p in pieces for x in p])
    return {wf: int(n) for wf, n in rows}


def _pieces_sql(pieces):
    return (" UNION ALL ".join(f"SELECT * FROM ({p[0]}) AS p{i}(grp, bin, s1, s2, s3, s4, s5, s6)"
                               for i, p in enumerate(pieces)), [x for p in pieces for x in p[1]])


def _bin_value_sql(column):
    """bin_value() in SQL."""
    return f"(CASE WHEN {column} <= 0 THEN 0 ELSE power({BIN_BASE}, {column} - 0.5) END)"


def workflow_stats(target, start, p=95):
    """workflow id -> (executions, successes, p-th percentile duration) since `start`, the
    percentile computed in PostgreSQL from the histogram as histogram_percentile() does: one row
    per workflow comes back instead of one per workflow and bin (the workflows page's 100 rows
    instead of ~6,000 on the bench dataset)."""
    if not target.team_ids:
        return {}
    pieces = [_execution_piece(target, piece, "workflow") for piece in segments(start, None)]
    union, params = _pieces_sql(pieces)
    low, high = _bin_value_sql("low_bin"), _bin_value_sql("high_bin")
    sql = f"""
        WITH h AS (SELECT grp, bin, sum(s1)::bigint AS n, sum(s2)::bigint AS ok FROM ({union}) AS pieces
                   GROUP BY grp, bin),
             c AS (SELECT grp, bin,
                          (sum(n) FILTER (WHERE bin >= 0) OVER (PARTITION BY grp ORDER BY bin))::bigint AS upto
                   FROM h),
             g AS (SELECT grp, sum(n)::bigint AS total, sum(ok)::bigint AS ok,
                          coalesce(sum(n) FILTER (WHERE bin >= 0), 0)::bigint AS timed,
                          (coalesce(sum(n) FILTER (WHERE bin >= 0), 0) - 1)::float8 * %s AS k FROM h GROUP BY grp),
             v AS (SELECT g.grp, g.total, g.ok, g.timed, g.k,
                          min(c.bin) FILTER (WHERE c.bin >= 0 AND c.upto > floor(g.k)) AS low_bin,
                          min(c.bin) FILTER (WHERE c.bin >= 0
                                             AND c.upto > least(floor(g.k) + 1, g.timed - 1)) AS high_bin
                   FROM g JOIN c ON c.grp = g.grp GROUP BY g.grp, g.total, g.ok, g.timed, g.k)
        SELECT grp, total::bigint, ok::bigint,
               CASE WHEN timed > 0 THEN round({low} + ({high} - {low}) * (k - floor(k)))::bigint END
        FROM v"""
    return {wf: (int(total), int(ok), p95) for wf, total, ok, p95 in _fetch(sql, [*params, p / 100])}


def errors(target, start, end):
    """{total, critical, open_critical, open_high} of the target's errors in [start, end]."""
    keys = ("total", "critical", "open_critical", "open_high")
    if not target.team_ids:
        return dict.fromkeys(keys, 0)
    pieces = []
    for piece in segments(start, end):
        if piece[0] == "raw":
            _, lo, lo_inclusive, hi, hi_inclusive, sign = piece
            where, wparams = _raw_filter(target, "e")
            rng, rparams = _range("e.timestamp", lo, hi, lo_inclusive, hi_inclusive)
            pieces.append((f"SELECT {_signed(RAW_ERROR_SUMS, sign)} FROM {WorkflowError._meta.db_table} e "
                           f"WHERE {where} AND {rng}",
                           [*wparams, *rparams]))
        else:
            where, wparams = _rollup_filter(target)
            rng, rparams = _range("bucket_start", piece[1], piece[2])
            pieces.append((
                "SELECT sum(total), sum(critical), sum(open_critical), sum(open_high) FROM monitoring_errorrollup "
                f"WHERE {where} AND {rng}", [LEVELS[(target.kind, piece[0])], *wparams, *rparams]))
    sql = ("SELECT sum(a), sum(b), sum(c), sum(d) FROM ("
           + " UNION ALL ".join(f"SELECT * FROM ({p[0]}) AS p{i}(a, b, c, d)" for i, p in enumerate(pieces))
           + ") AS pieces")
    row = _fetch(sql, [x for p in pieces for x in p[1]])[0]
    return {k: int(v or 0) for k, v in zip(keys, row)}


# --- rebuilding ---------------------------------------------------------------------------------


def oldest_rebuildable(now=None):
    """The first whole UTC day after the earliest retention cut-off of executions and errors:
    before it, raw rows may be gone while their rollups stay."""
    days = min(settings.FLOWTOWER_RETENTION_DAYS["executions"], settings.FLOWTOWER_RETENTION_DAYS["errors"])
    return ceil_to((now or timezone.now()) - timedelta(days=days), DAY)


def rebuild(since=None, until=None, chunk=DAY, progress=None):
    """Compute the rollups of [since, until) again from the raw rows, one transaction per chunk
    (whole UTC days). Never before `since`: the rollups of days whose raw rows retention deleted
    would drop to zero (monitoring.retention); the caller names a day after the oldest cut-off."""
    until = until or ceil_to(timezone.now(), DAY) + DAY
    lo = max(floor_to(since, DAY) if since else EPOCH, oldest_rebuildable())
    days = 0
    while lo < until:
        hi = min(lo + chunk, until)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT flowtower_rebuild_execution_rollups(%s, %s)", [lo, hi])
            cursor.execute("SELECT flowtower_rebuild_error_rollups(%s, %s)", [lo, hi])
        days += 1
        if progress:
            progress(lo, hi)
        lo = hi
    return days
