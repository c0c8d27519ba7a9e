"""Syncing a real n8n 1.123.81 into Flowtower, through its database (a copy of its SQLite file)
and through its API (its recorded answers served by a local HTTP server): the mirrored data is
n8n's truth table; syncing again, or again after a crash half-way, adds nothing; an execution
that was waiting ends as n8n ends it; read errors are recorded on the instance and cleared by the
next good run; secrets are encrypted at rest; another team sees nothing."""

import json
import shutil
import sqlite3
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from django.db import connection

from monitoring import events
from monitoring.models import ServiceToken
from monitoring.models import Execution, ExecutionLog, PerformanceMetric, Workflow, WorkflowError
from n8n_mirror import sync
from n8n_mirror.models import N8nInstance
from n8n_mirror.tasks import sync_due
from test_n8n_api_reader import KEY, FakeN8n

from tests.n8n_truth import SQLITE, TRUTH

ERRORS = {
    ("Invoice fetch", "Get invoices", "unknown", "500", "high"): 3,
    ("Warehouse ping", "Ping warehouse", "network", "ECONNREFUSED", "high"): 2,
    ("CRM token check", "Call CRM", "permission", "401", "high"): 2,
    ("Customer import", "Validate customer", "unknown", "", "high"): 3,
}


@pytest.fixture
def n8n_file(tmp_path):
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    return copy


@pytest.fixture
def database_instance(team, n8n_file):
    instance = N8nInstance(team=team, name="n8n-db", kind=N8nInstance.Kind.DATABASE)
    instance.set_secrets(database_url=str(n8n_file))
    instance.save()
    return instance


@pytest.fixture
def fake_n8n(httpserver):
    fake = FakeN8n()
    httpserver.expect_request("/api/v1/workflows").respond_with_handler(fake)
    httpserver.expect_request("/api/v1/executions").respond_with_handler(fake)
    for execution_id in fake.by_id:
        httpserver.expect_request(f"/api/v1/executions/{execution_id}").respond_with_handler(fake)
    fake.url = httpserver.url_for("/")
    return fake


@pytest.fixture
def api_instance(team, fake_n8n):
    instance = N8nInstance(team=team, name="n8n-api", kind=N8nInstance.Kind.API, api_url=fake_n8n.url)
    instance.set_secrets(api_key=KEY)
    instance.save()
    return instance


def _mirrored(instance):
    """What Flowtower holds for the instance, in the shape of n8n's truth table."""
    executions = Execution.objects.filter(workflow__source=instance.source).select_related("workflow")
    durations = defaultdict(list)
    for e in executions:
        durations[(e.workflow.name, e.state, e.mode)].append(e.duration_ms)
    errors = Counter((e.workflow.name, e.node_name, e.error_type, e.error_code, e.severity)
                     for e in WorkflowError.objects.filter(workflow__source=instance.source).select_related("workflow"))
    return durations, errors


def _counts(instance):
    return {model.__name__: model.objects.filter(workflow__source=instance.source).count()
            for model in (Execution, ExecutionLog, WorkflowError, PerformanceMetric)}


def _assert_truth(instance):
    durations, errors = _mirrored(instance)
    assert {k: len(v) for k, v in durations.items()} == {k: n for k, (n, _) in TRUTH.items()}
    for key, (_, average) in TRUTH.items():
        if average is None:
            assert durations[key] == [None]
        else:
            assert abs(sum(durations[key]) / len(durations[key]) - average) <= 1, key
    assert errors == ERRORS
    # One performance record per finished execution (29 of 30; one is waiting).
    assert PerformanceMetric.objects.filter(workflow__source=instance.source).count() == 29


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["database", "api"])
def test_a_sync_mirrors_n8ns_truth_table_and_a_second_adds_nothing(kind, request):
    instance = request.getfixturevalue(f"{kind}_instance")
    result = sync.sync_instance(instance)
    assert result.ok, result.error
    assert (result.workflows, result.executions) == (8, 30)
    _assert_truth(instance)
    instance.refresh_from_db()
    assert (instance.cursor, instance.executions_mirrored, instance.last_error) == ("30", 30, "")
    assert instance.last_success_at is not None and instance.newest_execution_at is not None
    assert len(instance.unfinished_ids) == 1  # the waiting one, re-read on every pass
    before = _counts(instance)
    again = sync.sync_instance(instance)
    assert again.ok and again.executions == 0  # the waiting execution re-read, unchanged: not rewritten
    assert _counts(instance) == before
    _assert_truth(instance)
    full = sync.sync_instance(instance, full=True)
    assert full.ok and full.executions == 30
    assert _counts(instance) == before
    instance.refresh_from_db()
    assert instance.executions_mirrored == 30


@pytest.mark.django_db(transaction=True)
def test_a_crash_half_way_resumes_without_loss_or_duplicates(database_instance, monkeypatch):
    calls = {"n": 0}
    real_ingest = sync.ingest

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        result = real_ingest(*args, **kwargs)  # written, then the transaction fails
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return result

    monkeypatch.setattr(sync, "ingest", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        sync.sync_instance(database_instance, batch_size=8)
    database_instance.refresh_from_db()
    assert database_instance.cursor == "8"  # the first batch committed with its cursor, not the second
    assert Execution.objects.filter(workflow__source=database_instance.source).count() == 8
    monkeypatch.setattr(sync, "ingest", real_ingest)
    result = sync.sync_instance(database_instance, batch_size=8)
    assert result.ok and result.batches == [8, 8, 6]
    _assert_truth(database_instance)
    database_instance.refresh_from_db()
    assert (database_instance.cursor, database_instance.executions_mirrored) == ("30", 30)


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_records_a_crash_on_the_instance_and_goes_on(database_instance, team, monkeypatch):
    broken = N8nInstance.objects.create(team=team, name="broken", kind=N8nInstance.Kind.DATABASE)
    broken.set_secrets(database_url=str(database_instance.get_secrets()["database_url"]))
    broken.save()

    def explode(instance, **kwargs):
        if instance.pk == broken.pk:
            raise RuntimeError("disk full")
        return real(instance, **kwargs)

    real = sync.sync_instance
    monkeypatch.setattr("n8n_mirror.tasks.sync_instance", explode)
    outcome = sync_due()
    assert outcome[str(database_instance)] == 30
    broken.refresh_from_db()
    assert "disk full" in broken.last_error and broken.last_error_at is not None
    # Not due again until its interval passed.
    assert sync_due() == {}


@pytest.mark.django_db(transaction=True)
def test_a_waiting_execution_ends_as_n8n_ends_it(database_instance, n8n_file):
    sync.sync_instance(database_instance)
    database_instance.refresh_from_db()
    [waiting_id] = database_instance.unfinished_ids
    execution = Execution.objects.get(workflow__source=database_instance.source, external_id=waiting_id)
    assert (execution.state, execution.stopped_at, execution.duration_ms) == ("waiting", None, None)
    logs_before = ExecutionLog.objects.filter(execution=execution).count()
    with sqlite3.connect(n8n_file) as db:
        started = db.execute('SELECT "startedAt" FROM execution_entity WHERE id = ?', (waiting_id,)).fetchone()[0]
        stopped = (datetime.fromisoformat(started) + timedelta(seconds=90)).isoformat(sep=" ", timespec="milliseconds")
        db.execute('UPDATE execution_entity SET status = \'success\', finished = 1, "waitTill" = NULL, '
                   '"stoppedAt" = ? WHERE id = ?', (stopped, waiting_id))
    result = sync.sync_instance(database_instance)
    assert result.ok
    execution.refresh_from_db()
    assert execution.state == "success"
    assert execution.duration_ms == 90_000
    assert (execution.stopped_at - execution.started_at).total_seconds() == 90
    assert ExecutionLog.objects.filter(execution=execution).count() == logs_before  # rewritten, not added
    assert PerformanceMetric.objects.filter(execution=execution).count() == 1
    database_instance.refresh_from_db()
    assert database_instance.unfinished_ids == []


@pytest.mark.django_db(transaction=True)
def test_a_workflow_n8n_deactivates_is_a_workflow_event(database_instance, n8n_file, monkeypatch):
    sync.sync_instance(database_instance)
    workflow = Workflow.objects.get(source=database_instance.source, name="Order sync")
    assert workflow.active
    with sqlite3.connect(n8n_file) as db:
        db.execute("UPDATE workflow_entity SET active = 0 WHERE name = 'Order sync'")
    published = []
    original = events.publish
    monkeypatch.setattr(events, "publish", lambda batch: (published.extend(batch), original(batch)))
    sync.sync_instance(database_instance)
    workflow.refresh_from_db()
    assert not workflow.active
    changes = [e.changes for e in published if e.type == "workflow"]
    assert changes == [{"active": [True, False]}]


def _set_trigger(n8n_file, workflow_name, node):
    with sqlite3.connect(n8n_file) as db:
        nodes = json.loads(db.execute("SELECT nodes FROM workflow_entity WHERE name = ?", (workflow_name,)).fetchone()[0])
        nodes = [n for n in nodes if "webhook" not in n["type"].lower() and "schedule" not in n["type"].lower()]
        db.execute("UPDATE workflow_entity SET nodes = ? WHERE name = ?", (json.dumps([node, *nodes]), workflow_name))


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_workflow_gets_its_schedule_and_loses_it_with_the_trigger(database_instance, n8n_file):
    _set_trigger(n8n_file, "Nightly report", {
        "id": "t1", "name": "Every 15 minutes", "type": "n8n-nodes-base.scheduleTrigger", "typeVersion": 1.2,
        "position": [0, 0], "parameters": {"rule": {"interval": [{"field": "minutes", "minutesInterval": 15}]}}})
    sync.sync_instance(database_instance)
    scheduled = dict(Workflow.objects.filter(source=database_instance.source, expected_interval_minutes__isnull=False)
                     .values_list("name", "expected_interval_minutes"))
    assert scheduled == {"Nightly report": 15}
    _set_trigger(n8n_file, "Nightly report", {
        "id": "t1", "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "position": [0, 0],
        "parameters": {"path": "nightly"}})
    sync.sync_instance(database_instance)
    assert Workflow.objects.get(source=database_instance.source, name="Nightly report").expected_interval_minutes is None


@pytest.mark.django_db(transaction=True)
def test_read_errors_are_recorded_and_the_next_good_run_clears_them(api_instance, database_instance, n8n_file,
                                                                    fake_n8n):
    # A rejected key.
    api_instance.set_secrets(api_key="wrong")
    api_instance.save()
    result = sync.sync_instance(api_instance)
    api_instance.refresh_from_db()
    assert "rejected the API key" in api_instance.last_error and api_instance.last_error_at is not None
    assert result.error and api_instance.cursor == ""
    # Unreachable.
    good_url = api_instance.api_url
    api_instance.api_url, _ = "http://127.0.0.1:9/", api_instance.set_secrets(api_key=KEY)
    api_instance.save()
    sync.sync_instance(api_instance)
    api_instance.refresh_from_db()
    assert "unreachable" in api_instance.last_error
    # Back to good: cleared.
    api_instance.api_url = good_url
    api_instance.save()
    assert sync.sync_instance(api_instance).ok
    api_instance.refresh_from_db()
    assert (api_instance.last_error, api_instance.last_error_at, api_instance.cursor) == ("", None, "30")
    # A missing SQLite file, then the file back.
    moved = n8n_file.with_suffix(".away")
    n8n_file.rename(moved)
    sync.sync_instance(database_instance)
    database_instance.refresh_from_db()
    assert database_instance.last_error and database_instance.cursor == ""
    moved.rename(n8n_file)
    assert sync.sync_instance(database_instance).ok
    database_instance.refresh_from_db()
    assert database_instance.last_error == "" and database_instance.cursor == "30"


@pytest.mark.django_db(transaction=True)
def test_a_locked_sqlite_file_is_a_recorded_error(database_instance, n8n_file, settings):
    writer = sqlite3.connect(n8n_file, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        result = sync.sync_instance(database_instance)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    database_instance.refresh_from_db()
    assert result.error and database_instance.last_error == result.error
    assert "lock" in result.error.lower()


@pytest.mark.django_db
def test_secrets_are_encrypted_at_rest(team):
    instance = N8nInstance(team=team, name="n8n", api_url="https://n8n.example.com")
    instance.set_secrets(api_key="n8n_api_0123456789abcdef", database_url="postgres://n8n:hunter2@db/n8n")
    instance.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM n8n_mirror_n8ninstance WHERE id = %s", [instance.pk])
        stored = cursor.fetchone()[0]
    assert "0123456789abcdef" not in stored and "hunter2" not in stored
    assert N8nInstance.objects.get(pk=instance.pk).get_secrets()["api_key"] == "n8n_api_0123456789abcdef"
    assert instance.masked_secrets() == {"api_key": "…cdef", "database_url": "********"}


@pytest.mark.django_db(transaction=True)
def test_another_team_never_sees_the_mirrored_data(database_instance, other_team, client_for):
    sync.sync_instance(database_instance)
    mine = client_for(ServiceToken.issue(database_instance.team, "mine")[1]).get("/api/v1/executions/")
    theirs = client_for(ServiceToken.issue(other_team, "theirs")[1]).get("/api/v1/executions/")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["count"] == 30
    assert theirs.json()["count"] == 0
    assert Workflow.objects.filter(team=other_team).count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_api_url_on_an_internal_address_is_refused_unless_allowed(api_instance, settings):
    settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND = False
    result = sync.sync_instance(api_instance)
    api_instance.refresh_from_db()
    assert "127.0.0.1, which is a loopback, private, link-local or other internal address" in api_instance.last_error
    assert result.error and not Execution.objects.filter(workflow__source=api_instance.source).exists()
    settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND = True
    assert sync.sync_instance(api_instance).ok


def _data_elsewhere(n8n_file, execution_id):
    # As n8n 2.x leaves it when it keeps an execution's data on disk.
    with sqlite3.connect(n8n_file) as db:
        db.execute('ALTER TABLE execution_entity ADD COLUMN "storedAt" varchar(2) NOT NULL DEFAULT \'db\'')
        db.execute("UPDATE execution_entity SET \"storedAt\" = 'fs' WHERE id = ?", (execution_id,))
        db.execute('DELETE FROM execution_data WHERE "executionId" = ?', (execution_id,))


@pytest.mark.django_db(transaction=True)
def test_data_kept_outside_the_database_is_counted_on_the_instance(database_instance, n8n_file):
    _data_elsewhere(n8n_file, 12)
    assert sync.sync_instance(database_instance).ok
    database_instance.refresh_from_db()
    assert database_instance.data_unavailable_count == 1
    assert "outside its database" in database_instance.data_unavailable_note
    sync.sync_instance(database_instance, full=True)
    database_instance.refresh_from_db()
    assert database_instance.data_unavailable_count == 1  # the same execution is not counted twice
    execution = Execution.objects.get(workflow__source=database_instance.source, external_id="12")
    assert execution.state == "error" and execution.duration_ms is not None  # n8n's own outcome, without data
    assert not ExecutionLog.objects.filter(execution=execution).exists()


@pytest.mark.django_db(transaction=True)
def test_data_kept_outside_the_database_is_read_through_the_api_when_it_can_be(database_instance, n8n_file,
                                                                               fake_n8n):
    _data_elsewhere(n8n_file, 12)
    database_instance.api_url = fake_n8n.url
    database_instance.set_secrets(api_key=KEY)
    database_instance.save()
    assert sync.sync_instance(database_instance).ok
    database_instance.refresh_from_db()
    assert database_instance.data_unavailable_count == 0
    execution = Execution.objects.get(workflow__source=database_instance.source, external_id="12")
    assert ExecutionLog.objects.filter(execution=execution).exists()
    assert ("/api/v1/executions/12", {"includeData": "true"}) in fake_n8n.asked
    _assert_truth(database_instance)


@pytest.mark.django_db
def test_the_beat_runs_the_sync_every_ten_seconds():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="n8n_mirror.tasks.sync_due_instances")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 10, "seconds")


@pytest.mark.django_db(transaction=True)
def test_the_beat_syncs_enabled_instances_once_their_interval_passed(database_instance, team, time_machine):
    time_machine.move_to("2026-11-25 12:00:00+00:00", tick=False)
    paused = N8nInstance.objects.create(team=team, name="paused", kind=N8nInstance.Kind.DATABASE, enabled=False)
    assert sync_due() == {str(database_instance): 30}
    time_machine.move_to("2026-11-25 12:00:20+00:00", tick=False)
    assert sync_due() == {}  # 20 s < 30 s
    time_machine.move_to("2026-11-25 12:00:31+00:00", tick=False)
    assert sync_due() == {str(database_instance): 0}  # due again; the waiting execution has not moved
    paused.refresh_from_db()
    assert paused.last_run_at is None


@pytest.mark.django_db(transaction=True)
def test_the_api_is_paged_once_per_pass_however_small_the_batches(api_instance, fake_n8n):
    result = sync.sync_instance(api_instance, batch_size=8)
    assert result.ok and result.batches == [8, 8, 8, 6]
    default_list_pages = [args for path, args in fake_n8n.asked if path == "/api/v1/executions" and "status" not in args]
    assert len(default_list_pages) == 3  # n8n's three pages, each asked for once
    _assert_truth(api_instance)
