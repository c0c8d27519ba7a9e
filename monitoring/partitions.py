"""Daily time partitions of the execution-log table (PostgreSQL only; see docs/partitions.md).

monitoring_executionlog is partitioned by range of `timestamp`, one partition per UTC day, named
monitoring_executionlog_pYYYYMMDD, plus a DEFAULT partition that takes any row no daily partition
covers (very old or far-future timestamps), so an insert never fails for want of a partition.

- `ensure_partitions` creates the days ahead (the beat task, daily and when a worker starts; the
  migration; retention) and, for days whose rows wait in the default partition, moves them into a
  new partition of their own;
- `drop_expired` drops the partitions wholly older than a cut-off, after archiving each one when
  FLOWTOWER_ARCHIVE_DIR is set: retention of a whole day is a catalogue change, not millions of
  row deletions;
- `archive_partition` / `load_archive` write a partition to a gzip CSV file and load one back.

On SQLite (the demo) the table is a plain table: every function here returns at once and retention
deletes rows in chunks as before.
"""

import csv
import gzip
import io
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

PARENT = "monitoring_executionlog"
DEFAULT = f"{PARENT}_default"
DAILY = re.compile(rf"^{PARENT}_p(\d{{8}})$")
DAYS_AHEAD = 7
# The parent's lock is taken to drop or attach a partition; ingest's inserts queue behind a waiting
# lock, so it is asked for briefly and again after a pause rather than waited for.
LOCK_TIMEOUT_MS = 500
LOCK_ATTEMPTS = 20


def is_partitioned(using=connection):
    """True when the log table is a partitioned PostgreSQL table (after migration 0009)."""
    if using.vendor != "postgresql":
        return False
    with using.cursor() as c:
        c.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = c.fetchone()
    return bool(row) and row[0] == "p"


def partition_name(day):
    return f"{PARENT}_p{day:%Y%m%d}"


def day_bounds(day):
    """[start, end) of a UTC day, as the partition's range."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def list_partitions(using=connection):
    """{day: name} of the daily partitions (the default partition is not a day)."""
    with using.cursor() as c:
        c.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                  "WHERE i.inhparent = to_regclass(%s)", [PARENT])
        names = [r[0] for r in c.fetchall()]
    out = {}
    for name in names:
        m = DAILY.match(name)
        if m:
            out[datetime.strptime(m.group(1), "%Y%m%d").date()] = name
    return dict(sorted(out.items()))


def _today(now=None):
    return (now or timezone.now()).astimezone(UTC).date()


def ensure_partitions(days_ahead=DAYS_AHEAD, days_back=0, now=None, using=connection):
    """Create the daily partitions from today - days_back to today + days_ahead that are missing
    (rows of such a day waiting in the default partition move into it). Returns the names created."""
    if not is_partitioned(using):
        return []
    today = _today(now)
    existing = list_partitions(using)
    wanted = [today + timedelta(days=d) for d in range(-days_back, days_ahead + 1)]
    return [create_partition(day, using) for day in wanted if day not in existing]


def create_partition(day, using=connection):
    """One day's partition. When the default partition holds rows of that day they move into it in
    the same transaction (PostgreSQL refuses a partition whose rows the default partition has)."""
    name = partition_name(day)
    start, end = day_bounds(day)

    def create(c):
        c.execute(f"SELECT 1 FROM {DEFAULT} WHERE timestamp >= %s AND timestamp < %s LIMIT 1", [start, end])
        if c.fetchone() is None:
            c.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
                      [start.isoformat(), end.isoformat()])
            return
        # LIKE copies columns, defaults and CHECK constraints; ATTACH then builds the parent's indexes
        # and key on it, and checks that the default partition no longer holds the range.
        c.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        c.execute(f"WITH moved AS (DELETE FROM {DEFAULT} WHERE timestamp >= %s AND timestamp < %s RETURNING *) "
                  f"INSERT INTO {name} SELECT * FROM moved", [start, end])
        c.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
                  [start.isoformat(), end.isoformat()])

    _with_short_locks(create, using)
    return name


def _with_short_locks(work, using=connection):
    """Run work(cursor) in a transaction whose locks are asked for with a short timeout, again
    after a pause when they are not granted: a waiting ACCESS EXCLUSIVE request on the parent
    would hold every insert behind it for as long as it waits."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            with transaction.atomic(using=using.alias), using.cursor() as c:
                c.execute("SELECT current_setting('lock_timeout')")
                before = c.fetchone()[0]
                c.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                # Inside an outer transaction that wrote logs (a test, a bulk load), their deferred
                # foreign-key checks must run first: PostgreSQL refuses DDL on a table with pending ones.
                c.execute("SET CONSTRAINTS ALL IMMEDIATE")
                result = work(c)
                # And what SET LOCAL changed would outlive this savepoint: Django's keys are deferred again.
                c.execute("SET CONSTRAINTS ALL DEFERRED")
                c.execute("SELECT set_config('lock_timeout', %s, true)", [before])
                return result
        except OperationalError as e:
            if "lock timeout" not in str(e) or attempt == LOCK_ATTEMPTS - 1:
                raise
            time.sleep(0.2 + 0.1 * attempt)


def expired_partitions(cutoff, using=connection):
    """{day: name} of the partitions whose whole range is older than the cut-off."""
    return {day: name for day, name in list_partitions(using).items() if day_bounds(day)[1] <= cutoff}


def count_rows(name, using=connection):
    with using.cursor() as c:
        c.execute(f"SELECT count(*) FROM {name}")
        return c.fetchone()[0]


def drop_expired(cutoff, archive_dir=None, on_partition=None, using=connection):
    """Drop every partition wholly older than the cut-off, archiving each first when archive_dir
    is given; on_partition(rows) is called for each. Returns the number of rows dropped. All go in
    one short transaction: the parent's lock is taken once."""
    if not is_partitioned(using):
        return 0
    doomed = expired_partitions(cutoff, using)
    if not doomed:
        return 0
    rows = 0
    for name in doomed.values():
        n = count_rows(name, using)
        if archive_dir:
            archive_partition(name, archive_dir, using)
        rows += n
        if on_partition:
            on_partition(n)
    _with_short_locks(lambda c: c.execute(f"DROP TABLE {', '.join(doomed.values())}"), using)
    return rows


# --- archives --------------------------------------------------------------------------------------

def archive_path(archive_dir, name):
    return Path(archive_dir) / f"{name}.csv.gz"


def archive_partition(name, archive_dir, using=connection):
    """COPY one partition to <archive_dir>/<name>.csv.gz (CSV with a header line). Written to a
    temporary name and renamed, so a file of that name is always complete."""
    path = archive_path(archive_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with gzip.open(partial, "wb", compresslevel=3) as out, using.cursor() as c:
        with c.copy(f"COPY (SELECT * FROM {name}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for data in copy:
                out.write(data)
    os.replace(partial, path)
    return path


def load_archive(path, using=connection):
    """Load an archive back into the log table, all or nothing; returns the rows loaded. Rows land
    in their day's partition when it exists, in the default partition otherwise (retention prunes
    them again once past the logs' retention). Loading the same file twice fails on the key."""
    with gzip.open(path, "rt", newline="") as f:
        header = next(csv.reader(io.StringIO(f.readline())))
        columns = ", ".join(f'"{name}"' for name in header)
        with transaction.atomic(using=using.alias), using.cursor() as c:
            with c.copy(f"COPY {PARENT} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                while block := f.read(1 << 20):
                    copy.write(block)
            return c.rowcount


def archive_dir():
    """FLOWTOWER_ARCHIVE_DIR as a Path, or None when archiving is off."""
    value = getattr(settings, "FLOWTOWER_ARCHIVE_DIR", None)
    return Path(value) if value else None

