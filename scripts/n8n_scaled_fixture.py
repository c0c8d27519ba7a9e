"""A real n8n database scaled up, for the mirror's throughput benchmark (scripts/bench_scale_mirror.py).

The source is the SQLite file of a real n8n 1.123.81 (tests/fixtures/n8n: 8 workflows, 30
executions with their flatted run data). Its execution rows are copied until there are `executions`
of them: copy k of execution i gets id i + k × (highest id), its times moved k × SPACING earlier
(so the copies spread back over weeks, newest first as in a live n8n), and the same workflow, mode,
status and `execution_data` text — the run data n8n wrote, byte for byte (the node run times inside
it are not moved). `execution_metadata` rows are copied the same way (the source has none). Everything
is INSERT … SELECT inside SQLite: 100k executions take a few seconds.

The file is kept in a cache folder (FLOWTOWER_BENCH_CACHE, default ~/.cache/flowtower/bench) and
reused while the source and the size are the same."""

import hashlib
import os
import shutil
import sqlite3
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "fixtures" / "n8n" / "n8n-1.123.81.sqlite"
SPACING_SECONDS = 13 * 60  # copy k runs k × 13 minutes before the original: 100k executions ≈ 30 days
MARKER_TABLE = "flowtower_bench_fixture"


def cache_dir():
    return Path(os.environ.get("FLOWTOWER_BENCH_CACHE", Path.home() / ".cache" / "flowtower" / "bench"))


def _source_digest(source):
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]


def _marker(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute(f"SELECT digest, executions FROM {MARKER_TABLE}").fetchone()
    except sqlite3.Error:
        return None


def scaled_fixture(executions, source=SOURCE, folder=None):
    """Path of an n8n SQLite database holding `executions` executions copied from `source`'s;
    built when missing or stale, else reused. Returns (path, seconds spent building; 0 if reused)."""
    folder = Path(folder or cache_dir())
    folder.mkdir(parents=True, exist_ok=True)
    digest = _source_digest(source)
    path = folder / f"n8n-{Path(source).stem.removeprefix('n8n-')}-{executions}.sqlite"
    if path.exists() and _marker(path) == (digest, executions):
        return path, 0.0
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    shutil.copyfile(source, partial)
    with sqlite3.connect(partial) as db:
        _multiply(db, executions)
        db.execute(f"CREATE TABLE {MARKER_TABLE} (digest TEXT, executions INTEGER)")
        db.execute(f"INSERT INTO {MARKER_TABLE} VALUES (?, ?)", (digest, executions))
    os.replace(partial, path)  # a build cut short never passes for a finished one
    return path, time.perf_counter() - started


def _multiply(db, executions):
    """Copy the execution rows (entity, data, metadata) until there are `executions` of them."""
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    base = [row[0] for row in db.execute(
        'SELECT id FROM execution_entity WHERE "deletedAt" IS NULL ORDER BY id')]
    if not base:
        raise ValueError("the source n8n database has no executions to copy")
    stride = max(base)
    copies = -(-executions // len(base))  # ceiling: the last copy is cut to the size asked
    db.execute("CREATE TEMP TABLE copy_number (k INTEGER PRIMARY KEY)")
    db.execute("WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?) "
               "INSERT INTO copy_number SELECT k FROM n", (copies - 1,))
    # The new ids, ordered: only the first `executions` (originals included) are kept.
    db.execute("CREATE TEMP TABLE new_id (id INTEGER PRIMARY KEY, source_id INTEGER, k INTEGER)")
    db.execute(f"INSERT INTO new_id SELECT e.id + c.k * {stride}, e.id, c.k FROM execution_entity e "
               f"CROSS JOIN copy_number c WHERE e.\"deletedAt\" IS NULL ORDER BY 1 LIMIT ?",
               (executions - len(base),))
    columns = [row[1] for row in db.execute("PRAGMA table_info(execution_entity)")]
    moved = {"id": "n.id"}
    for name in ("startedAt", "stoppedAt", "waitTill", "createdAt"):
        # SQLite keeps n8n's times as 'YYYY-MM-DD HH:MM:SS.SSS' text (UTC).
        moved[name] = f"strftime('%Y-%m-%d %H:%M:%f', e.\"{name}\", '-' || (n.k * {SPACING_SECONDS}) || ' seconds')"
    for name in ("retryOf", "retrySuccessId"):
        moved[name] = f"CASE WHEN e.\"{name}\" IS NULL THEN NULL ELSE CAST(e.\"{name}\" + n.k * {stride} AS TEXT) END"
    select = ", ".join(moved.get(c, f'e."{c}"') for c in columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    db.execute(f"INSERT INTO execution_entity ({quoted}) SELECT {select} "
               f"FROM new_id n JOIN execution_entity e ON e.id = n.source_id ORDER BY n.id")
    db.execute('INSERT INTO execution_data ("executionId", "workflowData", data) '
               'SELECT n.id, d."workflowData", d.data FROM new_id n '
               'JOIN execution_data d ON d."executionId" = n.source_id')
    db.execute('INSERT INTO execution_metadata ("executionId", "key", "value") '
               'SELECT n.id, m."key", m."value" FROM new_id n '
               'JOIN execution_metadata m ON m."executionId" = n.source_id')
    db.commit()


if __name__ == "__main__":
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    built, seconds = scaled_fixture(size)
    print(f"{built} ({'built in %.1f s' % seconds if seconds else 'reused'})")
