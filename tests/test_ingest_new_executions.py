"""A batch that brings new executions with their records (the n8n mirror's backfill): each
execution's row is written once, as the batch leaves it, not created as running and updated right
after; and an execution another batch creates meanwhile still gets this batch's records."""

import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.ingest import ingest
from monitoring.models import Execution, ExecutionLog, PerformanceMetric, Workflow

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _batch(ids):
    records = {"execution": [], "log": [], "error": [], "performance": []}
    for i in ids:
        ext, at = str(i), START + timedelta(minutes=i)
        records["execution"].append({"workflow_id": "wf", "workflow_name": "Orders", "execution_id": ext,
                                     "state": "error" if i % 2 else "success", "mode": "webhook",
                                     "started_at": at, "stopped_at": at + timedelta(seconds=3), "duration_ms": 3000,
                                     "total_steps": 4, "metadata": {"n8n_custom_data": {"token": "s3cr3t"}}})
        records["log"].append({"workflow_id": "wf", "execution_id": ext, "log_level": "info", "message": "ran",
                               "node_name": "HTTP Request", "step_number": 2, "timestamp": at + timedelta(seconds=1)})
        records["performance"].append({"workflow_id": "wf", "execution_id": ext, "total_duration": 2500,
                                       "node_count": 2, "successful_nodes": 2, "failed_nodes": 0,
                                       "timestamp": at + timedelta(seconds=3)})
    return records


def _writes_to_executions(queries):
    sql = [q["sql"].lstrip().upper() for q in queries]
    return ([s for s in sql if s.startswith('INSERT INTO "MONITORING_EXECUTION"')],
            [s for s in sql if s.startswith('UPDATE "MONITORING_EXECUTION"')])


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite creates them running, then updates them")
def test_new_executions_are_written_once_in_their_final_state(team):
    with CaptureQueriesContext(connection) as ctx:
        ingest(team, _batch(range(1, 21)), source="n8n:1", replace=True)
    inserts, updates = _writes_to_executions(ctx.captured_queries)
    assert len(inserts) == 1 and updates == []
    stored = {e.external_id: e for e in Execution.objects.all()}
    assert len(stored) == 20
    for i in range(1, 21):
        e = stored[str(i)]
        at = START + timedelta(minutes=i)
        assert (e.state, e.mode, e.started_at, e.stopped_at, e.duration_ms) == (
            "error" if i % 2 else "success", "webhook", at, at + timedelta(seconds=3), 3000)
        assert (e.current_step, e.step_number, e.total_steps) == ("HTTP Request", 2, 4)
        assert e.last_activity_at == at + timedelta(seconds=3)
        assert e.metadata == {"n8n_custom_data": {"token": "********"}}
    # The records point at the rows written.
    assert set(ExecutionLog.objects.values_list("execution_id", flat=True)) == {e.pk for e in stored.values()}
    assert set(PerformanceMetric.objects.values_list("execution_id", flat=True)) == {e.pk for e in stored.values()}


@pytest.mark.django_db
def test_a_batch_of_new_and_known_executions_updates_only_the_known(team):
    ingest(team, _batch(range(1, 4)), source="n8n:1", replace=True)
    with CaptureQueriesContext(connection) as ctx:
        ingest(team, _batch(range(2, 7)), source="n8n:1", replace=True)
    inserts, updates = _writes_to_executions(ctx.captured_queries)
    assert len(inserts) == 1 and len(updates) <= 1
    assert Execution.objects.count() == 6 and ExecutionLog.objects.count() == 6
    assert sorted(Execution.objects.values_list("state", flat=True)) == ["error"] * 3 + ["success"] * 3


def _waiting_on_a_lock(dsn):
    with psycopg.connect(**dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_an_execution_another_batch_creates_meanwhile_gets_this_batchs_records(team):
    workflow = Workflow.objects.create(team=team, source="n8n:1", external_id="wf", name="Orders")
    settings = connection.settings_dict
    dsn = {"host": settings["HOST"] or "127.0.0.1", "port": settings["PORT"] or 5432, "user": settings["USER"],
           "dbname": settings["NAME"]}
    if settings["PASSWORD"]:
        dsn["password"] = settings["PASSWORD"]
    # The other batch has created execution "1" (running) and not committed yet.
    other = psycopg.connect(**dsn)
    other.execute(
        "INSERT INTO monitoring_execution (workflow_id, external_id, state, mode, started_at, current_step, "
        "last_activity_at, metadata, created_at, updated_at) VALUES (%s, '1', 'running', '', %s, '', %s, '{}', "
        "now(), now())", [workflow.pk, START, START])
    failures = []

    def this_batch():
        try:
            ingest(team, _batch([1]), source="n8n:1", replace=True)
        except Exception as exc:  # reported by the test below
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=this_batch)
    thread.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(dsn) and time.monotonic() < deadline:
        time.sleep(0.05)
    other.commit()
    other.close()
    thread.join(30)
    assert not thread.is_alive() and failures == []
    execution = Execution.objects.get()
    assert (execution.state, execution.duration_ms, execution.current_step) == ("error", 3000, "HTTP Request")
    assert list(ExecutionLog.objects.values_list("execution_id", flat=True)) == [execution.pk]
    assert PerformanceMetric.objects.get().execution_id == execution.pk
