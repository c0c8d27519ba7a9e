"""Every ingested error is filed under its error group: counts, affected executions, regression of
a resolved group (once, with its event), ignored groups staying silent, re-sent executions never
counted twice, and a large batch at a bounded number of statements."""

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import events
from monitoring.error_groups import ignore_group, resolve_group
from monitoring.ingest import ingest
from monitoring.models import ErrorGroup, WorkflowError

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
MESSAGE = "Invalid payload: missing customer_id [line 3]"


def _error(execution, minute=0, message=MESSAGE, node="Validate customer", workflow="wf", **extra):
    return {"workflow_id": workflow, "execution_id": str(execution), "error_type": "validation",
            "error_message": message, "node_name": node, "severity": "high",
            "timestamp": START + timedelta(minutes=minute), **extra}


@pytest.fixture
def heard():
    """The monitoring events published after each commit (the test database's commits run them)."""
    got = []

    def listen(sender, event, **kwargs):
        got.append(event)

    events.monitoring_event.connect(listen)
    yield got
    events.monitoring_event.disconnect(listen)


def _group_events(heard, action=None):
    return [e for e in heard if e.type == "error_group" and (action is None or e.action == action)]


@pytest.mark.django_db(transaction=True)
def test_occurrences_of_one_error_are_one_group_with_counts(team, heard):
    result = ingest(team, {"error": [_error(1, 0), _error(1, 1), _error(2, 2, message=MESSAGE.replace("3", "7"))]})
    group = ErrorGroup.objects.get()
    assert (group.title, group.node_name, group.error_type) == (MESSAGE, "Validate customer", "validation")
    assert (group.occurrences, group.affected_executions) == (3, 2)
    assert (group.first_seen, group.last_seen, group.status) == (START, START + timedelta(minutes=2), "open")
    assert {e.group_id for e in result.created["error"]} == {group.pk}
    assert set(WorkflowError.objects.values_list("group_id", flat=True)) == {group.pk}
    created = _group_events(heard, "created")
    assert len(created) == 1 and created[0].data["id"] == group.pk and created[0].data["occurrences"] == 3

    # A later batch counts into it; an execution already holding an occurrence is not counted again.
    ingest(team, {"error": [_error(2, 10), _error(3, 11)]})
    group.refresh_from_db()
    assert (group.occurrences, group.affected_executions, group.first_seen) == (5, 3, START)
    assert group.last_seen == START + timedelta(minutes=11)
    assert len(_group_events(heard, "created")) == 1


@pytest.mark.django_db
def test_other_nodes_types_and_workflows_are_other_groups(team):
    ingest(team, {"error": [_error(1), _error(1, node="Other node"), _error(1, error_type="data"),
                            _error(1, workflow="wf2"), _error(1, error_code="E1")]})
    assert ErrorGroup.objects.count() == 5


@pytest.mark.django_db
def test_the_clients_fingerprint_groups_different_messages_within_one_workflow(team):
    ingest(team, {"error": [_error(1, message="timeout A", fingerprint="crm-timeout"),
                            _error(2, message="something else", fingerprint="crm-timeout"),
                            _error(3, message="timeout A", fingerprint="crm-timeout", workflow="wf2")]})
    groups = {g.workflow.external_id: g for g in ErrorGroup.objects.select_related("workflow")}
    assert (groups["wf"].occurrences, groups["wf"].title) == (2, "timeout A")
    assert groups["wf2"].occurrences == 1  # never across workflows


@pytest.mark.django_db(transaction=True)
def test_a_resolved_group_regresses_once_with_its_event(team, heard):
    ingest(team, {"error": [_error(1), _error(2)]})
    group = resolve_group(ErrorGroup.objects.get(), "alice", notes="fixed the mapping")
    assert set(WorkflowError.objects.values_list("resolved", flat=True)) == {True}
    previous = group.resolved_at
    heard.clear()

    result = ingest(team, {"error": [_error(3, 30), _error(4, 20)]})
    group.refresh_from_db()
    assert (group.status, group.regressed, group.regressed_at) == ("open", True, START + timedelta(minutes=20))
    assert (group.resolved_at, group.resolved_by, group.occurrences, group.affected_executions) == (None, "", 4, 4)
    regressed = _group_events(heard, "regressed")
    assert len(regressed) == 1
    data, event = regressed[0].data, regressed[0]
    reopening = next(e for e in result.created["error"] if e.execution.external_id == "4")
    assert (event.team_id, event.workflow_pk) == (team.pk, group.workflow_id)
    assert data["error_id"] == str(reopening.pk) and data["execution_pk"] == reopening.execution_id
    assert data["previous_resolved_at"] == previous.isoformat().replace("+00:00", "Z")
    assert (data["id"], data["status"], data["regressed"], data["occurrences"]) == (group.pk, "open", True, 4)
    assert {"title", "fingerprint", "node_name", "error_type", "error_code", "regressed_at", "first_seen",
            "last_seen", "affected_executions", "resolved_at", "resolved_by"} <= set(data)

    # Still open and regressed: a further occurrence counts, raises nothing new.
    heard.clear()
    ingest(team, {"error": [_error(5, 40)]})
    group.refresh_from_db()
    assert (group.occurrences, group.regressed_at) == (5, START + timedelta(minutes=20))
    assert _group_events(heard) == []


@pytest.mark.django_db(transaction=True)
def test_an_ignored_group_is_counted_and_stays_silent(team, heard):
    ingest(team, {"error": [_error(1)]})
    ignore_group(ErrorGroup.objects.get(), "alice")
    heard.clear()
    ingest(team, {"error": [_error(2, 5)]})
    group = ErrorGroup.objects.get()
    assert (group.status, group.regressed, group.occurrences, group.affected_executions) == ("ignored", False, 2, 2)
    assert _group_events(heard) == []


def _resent(execution_ids, minute=0, errors_per_execution=1):
    records = {"execution": [], "error": []}
    for ext in execution_ids:
        at = START + timedelta(minutes=minute)
        records["execution"].append({"workflow_id": "wf", "execution_id": str(ext), "state": "error",
                                     "started_at": at, "stopped_at": at + timedelta(seconds=2)})
        records["error"].extend(_error(ext, minute) for _ in range(errors_per_execution))
    return records


@pytest.mark.django_db(transaction=True)
def test_a_resent_execution_counts_once_and_does_not_reopen(team, heard):
    ingest(team, _resent([1, 2], errors_per_execution=2), source="n8n:1", replace=True)
    ingest(team, _resent([1, 2], errors_per_execution=2), source="n8n:1", replace=True)
    group = ErrorGroup.objects.get()
    assert (group.occurrences, group.affected_executions) == (4, 2)
    assert WorkflowError.objects.count() == 4

    resolve_group(group, "alice")
    heard.clear()
    ingest(team, _resent([2]), source="n8n:1", replace=True)  # re-sent, now with one error
    group.refresh_from_db()
    assert (group.status, group.regressed, group.occurrences, group.affected_executions) == ("resolved", False, 3, 2)
    # The re-sent error stays resolved with its group.
    assert set(WorkflowError.objects.values_list("resolved", flat=True)) == {True}
    assert _group_events(heard) == []

    # A new execution does reopen it.
    ingest(team, _resent([3], minute=9), source="n8n:1", replace=True)
    group.refresh_from_db()
    assert (group.status, group.regressed, group.occurrences, group.affected_executions) == ("open", True, 4, 3)
    assert len(_group_events(heard, "regressed")) == 1


@pytest.mark.django_db
def test_retention_keeps_the_groups_and_their_counts(team):
    from monitoring.retention import delete_rows

    ingest(team, {"error": [_error(1), _error(2)]})
    delete_rows(WorkflowError, list(WorkflowError.objects.values_list("pk", flat=True)))
    group = ErrorGroup.objects.get()
    assert (group.occurrences, group.affected_executions) == (2, 2)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite (the demo) files errors group by group")
def test_a_thousand_error_batch_files_its_groups_in_two_statements(team):
    errors = [_error(i, i % 50, message=f"Order {i} failed: status {i % 7}", node=f"Node {i % 10}")
              for i in range(1000)]
    with CaptureQueriesContext(connection) as ctx:
        ingest(team, {"error": errors})
    on_groups = [q["sql"] for q in ctx.captured_queries if "monitoring_errorgroup" in q["sql"]]
    assert len(on_groups) == 2, on_groups  # the locking read and the upsert
    assert len(ctx.captured_queries) < 15
    assert ErrorGroup.objects.count() == 10
    assert sum(ErrorGroup.objects.values_list("occurrences", flat=True)) == 1000
    assert WorkflowError.objects.filter(group__isnull=True).count() == 0

    with CaptureQueriesContext(connection) as again:
        ingest(team, {"error": errors[:500]})
    assert len([q for q in again.captured_queries if "monitoring_errorgroup" in q["sql"]]) == 2
    assert sum(ErrorGroup.objects.values_list("occurrences", flat=True)) == 1500
    assert sum(ErrorGroup.objects.values_list("affected_executions", flat=True)) == 1000


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_concurrent_batches_count_into_one_group_created_once(team, heard):
    import threading
    import time

    from django.db import transaction

    ingest(team, {"error": [_error(0, message="another error")]})  # the workflow exists
    holding, failures = threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                ingest(team, {"error": [_error(f"a{i}", i) for i in range(5)]})
                holding.set()
                time.sleep(0.5)  # the second batch meets this one's new group, not yet committed
        except Exception as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)
        finally:
            holding.set()
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(10)
    ingest(team, {"error": [_error(f"b{i}", 10 + i) for i in range(5)]})
    thread.join(30)
    assert failures == []
    group = ErrorGroup.objects.get(title=MESSAGE)
    assert (group.occurrences, group.affected_executions) == (10, 10)
    assert group.first_seen == START and group.last_seen == START + timedelta(minutes=14)
    created = [e for e in _group_events(heard, "created") if e.data["title"] == MESSAGE]
    assert len(created) == 1
