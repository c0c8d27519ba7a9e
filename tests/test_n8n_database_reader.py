"""Reading n8n's own database, read-only: the SQLite file a real n8n 1.123.81 wrote, a copy with
columns a newer n8n adds, a locked or missing file, and the same data in PostgreSQL with a table
prefix. The counts are the truth table of that n8n (tests/fixtures/n8n)."""

import os
import shutil
import sqlite3
import uuid
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from n8n_mirror.readers import SourceLocked, SourceMissing, SourceUnreachable, UnexpectedAnswer
from n8n_mirror.readers.database import DatabaseReader

from tests.n8n_truth import COUNTS as TRUTH
from tests.n8n_truth import SQLITE


def truth_of(reader):
    names = {w.id: w.name for w in reader.list_workflows()}
    return Counter((names[e.workflow_id], e.status, e.mode) for e in reader.list_executions(limit=1000))


def assert_reads_the_real_n8n(reader):
    workflows = reader.list_workflows()
    assert len(workflows) == 8
    assert {w.name: w.active for w in workflows}["Manual cleanup"] is False
    nightly = next(w for w in workflows if w.name == "Nightly report")
    assert [n["name"] for n in nightly.nodes] == ["Webhook", "Slow source", "Pause", "Summarise"]
    assert nightly.connections["Slow source"]["main"][0][0]["node"] == "Pause"
    assert nightly.settings["executionOrder"] == "v1"
    assert nightly.created_at.tzinfo is not None

    assert truth_of(reader) == TRUTH
    executions = reader.list_executions(limit=1000)
    assert [e.id for e in executions] == [str(i) for i in range(1, 31)]
    assert all(e.data_available and e.run_data for e in executions)
    waiting = [e for e in executions if e.status == "waiting"]
    assert len(waiting) == 1 and waiting[0].is_unfinished
    assert waiting[0].wait_till.year == 3000
    assert waiting[0].last_node_executed == "Wait for approval"
    crm = executions[16]  # execution 17: CRM token check, 401
    assert crm.error["httpCode"] == "401" and crm.error["node"]["name"] == "Call CRM"
    assert crm.stopped_at - crm.started_at == timedelta(milliseconds=419)


def test_reads_the_real_sqlite_file():
    assert_reads_the_real_n8n(DatabaseReader(SQLITE))


def test_incremental_by_id_and_rereading_given_ids():
    reader = DatabaseReader(f"sqlite://{SQLITE}")
    first = reader.list_executions(limit=10)
    assert [e.id for e in first] == [str(i) for i in range(1, 11)]
    following = reader.list_executions(after_id=first[-1].id, limit=10)
    assert [e.id for e in following] == [str(i) for i in range(11, 21)]
    assert reader.list_executions(after_id=30) == []
    again = reader.list_executions(ids=["29", "3"])
    assert [(e.id, e.status) for e in again] == [("3", "success"), ("29", "waiting")]
    assert reader.list_executions(ids=[]) == []
    failed = reader.list_executions(statuses=["error", "waiting"], limit=100)
    assert Counter(e.status for e in failed) == {"error": 10, "waiting": 1}


@pytest.fixture
def newer_n8n_copy(tmp_path):
    """The same database as a newer n8n would leave it: extra columns, and one execution whose
    data lives outside the database (storedAt "fs", no execution_data row)."""
    path = tmp_path / "n8n-newer.sqlite"
    shutil.copy(SQLITE, path)
    with sqlite3.connect(path) as db:
        db.execute('ALTER TABLE execution_entity ADD COLUMN "storedAt" varchar(2) NOT NULL DEFAULT \'db\'')
        db.execute('ALTER TABLE execution_entity ADD COLUMN "jsonSizeBytes" integer')
        db.execute('ALTER TABLE workflow_entity ADD COLUMN "workflowVersionId" varchar(36)')
        db.execute("UPDATE execution_entity SET \"storedAt\" = 'fs' WHERE id = 12")
        db.execute('DELETE FROM execution_data WHERE "executionId" = 12')
    return path


def test_newer_columns_and_data_stored_elsewhere(newer_n8n_copy):
    reader = DatabaseReader(newer_n8n_copy)
    assert truth_of(reader) == TRUTH
    executions = {e.id: e for e in reader.list_executions(limit=1000)}
    elsewhere = executions["12"]
    assert (elsewhere.stored_at, elsewhere.data_available, elsewhere.run_data) == ("fs", False, {})
    assert elsewhere.status == "error"
    assert executions["13"].stored_at == "db" and executions["13"].data_available


def test_rows_from_before_the_status_column_get_a_status_from_finished(tmp_path):
    path = tmp_path / "old.sqlite"
    shutil.copy(SQLITE, path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE execution_entity DROP COLUMN status")
    assert truth_of(DatabaseReader(path)) == TRUTH


def _with_custom_data(tmp_path):
    """A copy of the real database in which two executions saved custom data (an Execution Data
    node writes one execution_metadata row per key); the shared fixture stays as n8n left it."""
    path = tmp_path / "n8n-custom-data.sqlite"
    shutil.copy(SQLITE, path)
    with sqlite3.connect(path) as db:
        db.executemany('INSERT INTO execution_metadata ("executionId", key, value) VALUES (?, ?, ?)',
                       [(3, "order_id", "A-1001"), (3, "customer", "acme"), (17, "order_id", "A-1002")])
    return path


def test_custom_data_saved_by_the_workflow_is_read(tmp_path):
    reader = DatabaseReader(_with_custom_data(tmp_path))
    executions = {e.id: e for e in reader.list_executions(limit=1000)}
    assert executions["3"].custom_data == {"customer": "acme", "order_id": "A-1001"}
    assert executions["17"].custom_data == {"order_id": "A-1002"}
    assert sum(1 for e in executions.values() if e.custom_data) == 2
    # The same when read again by id or after a cursor, and only for the executions asked for.
    assert [e.custom_data for e in reader.list_executions(ids=["17", "4"])] == [{}, {"order_id": "A-1002"}]
    assert [e.custom_data for e in reader.list_executions(after_id=2, limit=1)] == [
        {"customer": "acme", "order_id": "A-1001"}]


def test_an_n8n_without_the_custom_data_table_has_none(tmp_path):
    path = tmp_path / "before-custom-data.sqlite"
    shutil.copy(SQLITE, path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE execution_metadata")
    executions = DatabaseReader(path).list_executions(limit=1000)
    assert len(executions) == 30 and all(e.custom_data == {} for e in executions)


def test_the_file_is_opened_read_only(tmp_path):
    path = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, path)
    before = path.read_bytes()
    DatabaseReader(path).list_executions(limit=1000)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*-journal")) and not list(tmp_path.glob("*-wal"))


def test_missing_file_and_wrong_prefix_are_clear_errors(tmp_path):
    with pytest.raises(SourceMissing, match="does not exist"):
        DatabaseReader(tmp_path / "nope.sqlite").list_workflows()
    with pytest.raises(SourceMissing, match="table prefix"):
        DatabaseReader(SQLITE, table_prefix="n8n_").list_executions()


def test_a_locked_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("n8n_mirror.readers.database.SQLITE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SourceLocked, match="locked"):
            DatabaseReader(path).list_executions()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(DatabaseReader(path).list_executions()) == 30


# --- PostgreSQL: the same rows in n8n's PostgreSQL shape, under a table prefix --------------

PG_TABLES = {
    "workflow_entity": {"id": "varchar(36) PRIMARY KEY", "name": "varchar(128)", "active": "boolean",
                        "nodes": "json", "connections": "json", "settings": "json",
                        "createdAt": "timestamptz(3)", "updatedAt": "timestamptz(3)", "versionId": "varchar(36)"},
    "execution_entity": {"id": "integer PRIMARY KEY", "workflowId": "varchar(36)", "finished": "boolean",
                         "mode": "varchar", "retryOf": "varchar", "retrySuccessId": "varchar",
                         "startedAt": "timestamptz(3)", "stoppedAt": "timestamptz(3)", "waitTill": "timestamptz(3)",
                         "status": "varchar", "deletedAt": "timestamptz(3)", "createdAt": "timestamptz(3)"},
    "execution_data": {"executionId": "integer PRIMARY KEY", "workflowData": "json", "data": "text"},
    "execution_metadata": {"id": "serial PRIMARY KEY", "executionId": "integer", "key": "varchar(255)",
                           "value": "text"},
    "tag_entity": {"id": "varchar(36) PRIMARY KEY", "name": "varchar(24)"},
    "workflows_tags": {"workflowId": "varchar(36)", "tagId": "varchar(36)"},
}
BOOLEAN_COLUMNS = {"active", "finished"}
TIME_COLUMNS = {"createdAt", "updatedAt", "startedAt", "stoppedAt", "waitTill", "deletedAt"}


def _server_url(database):
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowtower"))
    return urlunsplit(parts._replace(path=f"/{database}"))


def _sqlite_rows(table, columns):
    with sqlite3.connect(f"file:{SQLITE}?mode=ro", uri=True) as db:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        wanted = [c for c in columns if c in present]
        rows = db.execute(f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in wanted)} FROM {table}").fetchall()
    for row in rows:
        yield {c: (bool(v) if c in BOOLEAN_COLUMNS and v is not None else
                   (f"{v}+00" if c in TIME_COLUMNS and v else v)) for c, v in zip(wanted, row)}


@pytest.fixture
def n8n_postgres():
    """A throwaway PostgreSQL database holding the real n8n's rows, tables prefixed "n8n_", in a
    schema of their own (n8n's DB_POSTGRESDB_SCHEMA), which the URL selects with search_path."""
    name = f"n8n_reader_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(_server_url(name)) as db:
            db.execute("CREATE SCHEMA automation; SET search_path TO automation")
            for table, columns in PG_TABLES.items():
                db.execute(f'CREATE TABLE "n8n_{table}" ({", ".join(f"{chr(34)}{c}{chr(34)} {t}" for c, t in columns.items())})')
                for row in _sqlite_rows(table, columns):
                    db.execute(f'INSERT INTO "n8n_{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in row)}) '
                               f'VALUES ({", ".join(["%s"] * len(row))})', list(row.values()))
            db.execute("""INSERT INTO n8n_tag_entity VALUES ('t1', 'billing'), ('t2', 'nightly')""")
            db.execute("""INSERT INTO "n8n_workflows_tags" VALUES ('cHvpJr4EckHXTVr8', 't1'), ('FbRIb8zCoV42MZPU', 't2'),
                          ('FbRIb8zCoV42MZPU', 't1')""")
        yield _server_url(name) + "?options=-csearch_path%3Dautomation"
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_reads_the_same_data_from_postgresql_with_a_table_prefix(n8n_postgres):
    reader = DatabaseReader(n8n_postgres, table_prefix="n8n_")
    assert_reads_the_real_n8n(reader)
    tags = {w.name: w.tags for w in reader.list_workflows()}
    assert tags["Nightly report"] == ["billing", "nightly"] and tags["Invoice fetch"] == ["billing"]
    sqlite_runs = {e.id: e.run_data for e in DatabaseReader(SQLITE).list_executions(limit=1000)}
    assert {e.id: e.run_data for e in reader.list_executions(limit=1000)} == sqlite_runs
    assert [e.id for e in reader.list_executions(after_id=28)] == ["29", "30"]
    with psycopg.connect(n8n_postgres) as db:
        db.execute("""INSERT INTO "n8n_execution_metadata" ("executionId", key, value) VALUES (29, 'ticket', 'T-9')""")
    assert [e.custom_data for e in reader.list_executions(after_id=28)] == [{"ticket": "T-9"}, {}]
    with pytest.raises(SourceMissing, match="table prefix"):  # the schema is not on the default path
        DatabaseReader(n8n_postgres.split("?")[0], table_prefix="n8n_").list_workflows()


def test_postgresql_reads_in_a_read_only_transaction(n8n_postgres):
    # Whatever SQL ran through the reader's connection, the server refuses to write.
    with DatabaseReader(n8n_postgres, table_prefix="n8n_")._open() as db:
        with pytest.raises(UnexpectedAnswer, match="read-only transaction"):
            db.fetch('DELETE FROM "n8n_execution_entity" RETURNING id')
    assert len(DatabaseReader(n8n_postgres, table_prefix="n8n_").list_executions()) == 30


def test_sqlite_file_cannot_be_written_through_the_reader(tmp_path):
    path = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, path)
    with DatabaseReader(path)._open() as db:
        with pytest.raises(UnexpectedAnswer, match="readonly"):
            db.fetch("DELETE FROM execution_entity RETURNING id")
    assert len(DatabaseReader(path).list_executions()) == 30


def test_unreachable_postgresql_is_a_clear_error():
    with pytest.raises(SourceUnreachable, match="unreachable"):
        DatabaseReader("postgres://postgres@127.0.0.1:1/n8n").list_workflows()
