"""Reads n8n's own database, read-only: a SQLite file or a PostgreSQL URL, with n8n's table
prefix (DB_TABLE_PREFIX). Selects only the columns it needs and first asks which exist, so the
columns newer n8n versions add (storedAt, jsonSizeBytes, workflowVersionId, …) break nothing."""

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from .. import flatted
from .base import (
    CredentialsRejected,
    N8nExecution,
    N8nWorkflow,
    SourceLocked,
    SourceMissing,
    SourceTimeout,
    SourceUnreachable,
    UnexpectedAnswer,
    infer_status,
    parse_time,
    result_data_fields,
)

# execution_entity columns the reader uses; only id and workflowId must exist.
EXECUTION_COLUMNS = ("id", "workflowId", "finished", "mode", "status", "retryOf", "startedAt", "stoppedAt",
                     "waitTill", "storedAt", "deletedAt")
WORKFLOW_COLUMNS = ("id", "name", "active", "nodes", "connections", "settings", "createdAt", "updatedAt")
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 5


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _json(value, default):
    # SQLite keeps JSON as text; PostgreSQL's json columns arrive decoded.
    if value is None or value == "":
        return default
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise UnexpectedAnswer(f"n8n stored JSON that cannot be read: {str(value)[:80]!r}") from None


class _Session:
    """An open read-only connection with the three things the reader needs."""

    def __init__(self, connection, placeholder, list_columns, translate_error):
        self.connection = connection
        self.placeholder = placeholder
        self._list_columns = list_columns
        self._translate_error = translate_error
        self._columns = {}

    def fetch(self, sql, params=()):
        sql = sql.replace("%s", self.placeholder)
        try:
            cursor = self.connection.execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except Exception as exc:
            raise self._translate_error(exc) from None

    def columns(self, table):
        if table not in self._columns:
            try:
                self._columns[table] = set(self._list_columns(self.connection, table))
            except Exception as exc:
                raise self._translate_error(exc) from None
            if not self._columns[table]:
                raise SourceMissing(f"the n8n table {table} does not exist (is the table prefix right?)")
        return self._columns[table]


def _sqlite_error(exc):
    text = str(exc)
    if "locked" in text or "busy" in text:
        return SourceLocked(f"the n8n SQLite file is locked by another process: {text}")
    if "no such table" in text:
        return SourceMissing(f"n8n table missing: {text}")
    return UnexpectedAnswer(f"reading the n8n SQLite file failed: {text}")


def _sqlite_columns(connection, table):
    return [row[1] for row in connection.execute(f"PRAGMA table_info({_quote(table)})")]


@contextmanager
def _open_sqlite(path):
    path = Path(path)
    if not path.is_file():
        raise SourceMissing(f"the n8n SQLite file {path} does not exist")
    # mode=ro: the reader can never write to n8n's file, whatever it runs.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise SourceMissing(f"the n8n SQLite file {path} cannot be opened: {exc}") from None
    try:
        yield _Session(connection, "?", _sqlite_columns, _sqlite_error)
    finally:
        connection.close()


def _postgres_error(exc):
    import psycopg

    text = str(exc).strip()
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return SourceMissing(f"n8n table missing: {text}")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return SourceTimeout(f"the n8n database took too long: {text}")
    if isinstance(exc, psycopg.OperationalError):
        return SourceUnreachable(f"the n8n database is unreachable: {text}")
    return UnexpectedAnswer(f"reading the n8n database failed: {text}")


def _postgres_columns(connection, table):
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = ANY(current_schemas(false))", (table,)
    ).fetchall()
    return [row[0] for row in rows]


@contextmanager
def _open_postgres(url):
    import psycopg

    try:
        connection = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        text = str(exc).strip()
        if "password authentication failed" in text or "no password supplied" in text:
            raise CredentialsRejected(f"the n8n database rejected the credentials: {text}") from None
        if "timeout expired" in text:
            raise SourceTimeout(f"the n8n database did not answer in {CONNECT_TIMEOUT_S} s") from None
        raise SourceUnreachable(f"the n8n database is unreachable: {text}") from None
    try:
        # A read-only transaction: the server itself refuses any write.
        connection.read_only = True
        yield _Session(connection, "%s", _postgres_columns, _postgres_error)
    finally:
        connection.close()


def is_postgres_url(location):
    return str(location).startswith(("postgres://", "postgresql://"))


class DatabaseReader:
    """Reads workflows and executions from n8n's database. `location`: a SQLite file path
    (or sqlite:///path) or a postgres:// URL; `table_prefix`: n8n's DB_TABLE_PREFIX."""

    def __init__(self, location, table_prefix=""):
        self.location = str(location)
        self.table_prefix = table_prefix or ""

    def _open(self):
        if is_postgres_url(self.location):
            return _open_postgres(self.location)
        return _open_sqlite(self.location.removeprefix("sqlite://"))

    def _table(self, name):
        return self.table_prefix + name

    def list_workflows(self):
        with self._open() as db:
            table = self._table("workflow_entity")
            present = [c for c in WORKFLOW_COLUMNS if c in db.columns(table)]
            rows = db.fetch(f"SELECT {', '.join(map(_quote, present))} FROM {_quote(table)} ORDER BY {_quote('id')}")
            tags = self._tags(db)
        return [
            N8nWorkflow(
                id=str(row["id"]), name=row.get("name") or "", active=bool(row.get("active")),
                nodes=_json(row.get("nodes"), []), connections=_json(row.get("connections"), {}),
                tags=tags.get(str(row["id"]), []), created_at=parse_time(row.get("createdAt")),
                updated_at=parse_time(row.get("updatedAt")), settings=_json(row.get("settings"), {}),
            )
            for row in rows
        ]

    def _tags(self, db):
        # Tags live in workflows_tags + tag_entity; an n8n without them simply has no tags.
        links, tags = self._table("workflows_tags"), self._table("tag_entity")
        try:
            db.columns(links), db.columns(tags)
        except SourceMissing:
            return {}
        rows = db.fetch(
            f'SELECT l."workflowId" AS workflow_id, t.name AS name FROM {_quote(links)} l '
            f'JOIN {_quote(tags)} t ON t.id = l."tagId" ORDER BY t.name'
        )
        result = {}
        for row in rows:
            result.setdefault(str(row["workflow_id"]), []).append(row["name"])
        return result

    def list_executions(self, after_id=None, ids=None, statuses=None, limit=250):
        """Executions ordered by id: those after `after_id` (the cursor), or exactly `ids` (to
        re-read unfinished ones), optionally only with the given statuses, at most `limit`."""
        with self._open() as db:
            table = self._table("execution_entity")
            available = db.columns(table)
            present = [c for c in EXECUTION_COLUMNS if c in available]
            where, params = [], []
            if "deletedAt" in available:
                # n8n's pruning marks rows deleted before removing them; its API hides them too.
                where.append('"deletedAt" IS NULL')
            if ids is not None:
                ids = [int(i) for i in ids]
                if not ids:
                    return []
                where.append(f"id IN ({', '.join(['%s'] * len(ids))})")
                params.extend(ids)
            elif after_id is not None:
                where.append("id > %s")
                params.append(int(after_id))
            if statuses and "status" in available:
                where.append(f"status IN ({', '.join(['%s'] * len(statuses))})")
                params.extend(statuses)
            sql = f"SELECT {', '.join(map(_quote, present))} FROM {_quote(table)}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY id LIMIT %s"
            rows = db.fetch(sql, [*params, int(limit)])
            executions = [self._execution(row) for row in rows]
            self._attach_data(db, executions)
            self._attach_custom_data(db, executions)
        if statuses and "status" not in available:
            executions = [e for e in executions if e.status in statuses]
        return executions

    def _execution(self, row):
        stopped_at, wait_till = parse_time(row.get("stoppedAt")), parse_time(row.get("waitTill"))
        return N8nExecution(
            id=str(row["id"]), workflow_id=str(row["workflowId"]),
            status=infer_status(row.get("status"), bool(row.get("finished")), stopped_at, wait_till),
            mode=row.get("mode") or "", started_at=parse_time(row.get("startedAt")), stopped_at=stopped_at,
            finished=bool(row.get("finished")), retry_of=str(row["retryOf"]) if row.get("retryOf") else None,
            wait_till=wait_till, stored_at=row.get("storedAt"),
        )

    def _attach_data(self, db, executions):
        # n8n 2.x may keep the data outside the database (storedAt other than "db"): no row then.
        wanted = {e.id: e for e in executions if e.stored_at in (None, "db")}
        if not wanted:
            return
        table = self._table("execution_data")
        rows = db.fetch(
            f'SELECT "executionId" AS execution_id, data FROM {_quote(table)} '
            f'WHERE "executionId" IN ({", ".join(["%s"] * len(wanted))})',
            [int(i) for i in wanted],
        )
        for row in rows:
            execution = wanted[str(row["execution_id"])]
            try:
                decoded = flatted.parse(row["data"])
            except flatted.FlattedError as exc:
                raise UnexpectedAnswer(f"execution {execution.id}: its data is not flatted: {exc}") from None
            for name, value in result_data_fields(decoded).items():
                setattr(execution, name, value)
            execution.data_available = True

    def _attach_custom_data(self, db, executions):
        # execution_metadata holds what an Execution Data node saved, one key/value row each;
        # an n8n from before it (0.222) has no such table: no custom data then.
        if not executions:
            return
        table = self._table("execution_metadata")
        try:
            db.columns(table)
        except SourceMissing:
            return
        by_id = {e.id: e for e in executions}
        rows = db.fetch(
            f'SELECT "executionId" AS execution_id, "key" AS key, "value" AS value FROM {_quote(table)} '
            f'WHERE "executionId" IN ({", ".join(["%s"] * len(by_id))}) ORDER BY "key"',
            [int(i) for i in by_id],
        )
        for row in rows:
            by_id[str(row["execution_id"])].custom_data[row["key"]] = row["value"]
