"""Errors stored before error groups existed are filed under their groups by `manage.py
group_errors` (migration 0012 runs it once): counted as ingestion counts them, a group whose
occurrences were all resolved starts resolved, and running it again changes nothing."""

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command

from monitoring.ingest import ingest
from monitoring.models import ErrorGroup, WorkflowError

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _error(execution, minute, message, node="HTTP Request"):
    return {"workflow_id": "wf", "execution_id": str(execution), "error_type": "network", "node_name": node,
            "error_message": message, "severity": "high", "timestamp": START + timedelta(minutes=minute)}


@pytest.mark.django_db
def test_stored_errors_without_group_are_grouped_once(team):
    ingest(team, {"error": [_error(1, 0, "connect ECONNREFUSED 10.0.0.1:443"),
                            _error(1, 1, "connect ECONNREFUSED 10.0.0.2:443"),
                            _error(2, 2, "connect ECONNREFUSED 10.0.0.1:443"),
                            _error(3, 3, "Invalid payload: missing customer_id [line 3]", node="Validate")]})
    # As if stored before grouping: no group, one error already resolved by hand.
    WorkflowError.objects.update(group=None)
    ErrorGroup.objects.all().delete()
    WorkflowError.objects.filter(node_name="Validate").update(resolved=True, resolved_by="alice",
                                                              resolved_at=START + timedelta(hours=1))

    call_command("group_errors", chunk=2)

    groups = {g.node_name: g for g in ErrorGroup.objects.all()}
    refused, invalid = groups["HTTP Request"], groups["Validate"]
    assert (refused.title, refused.occurrences, refused.affected_executions) == (
        "connect ECONNREFUSED 10.0.0.1:443", 3, 2)
    assert (refused.first_seen, refused.last_seen, refused.status) == (START, START + timedelta(minutes=2), "open")
    assert (invalid.status, invalid.resolved_by) == ("resolved", "alice")
    assert invalid.resolved_at == START + timedelta(hours=1)
    assert not WorkflowError.objects.filter(group__isnull=True).exists()

    call_command("group_errors")
    assert sorted(ErrorGroup.objects.values_list("occurrences", flat=True)) == [1, 3]
