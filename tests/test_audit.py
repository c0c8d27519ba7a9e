"""The audit trail records who changed what through the API: users as actors, tokens by name."""

from auditlog.models import LogEntry

from monitoring.ingest import ingest
from monitoring.models import Alert, Execution, WorkflowError
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"


def make_error_and_alert(team):
    raw = {
        "error": [{"workflow_id": "wf-1", "execution_id": "e1", "error_message": "boom", "severity": "high"}],
        "alert": [{"workflow_id": "wf-1", "alert_type": "error", "severity": "critical", "title": "down"}],
    }
    result = ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()})
    return result.created["error"][0], result.created["alert"][0]


def entries_for(obj):
    return LogEntry.objects.get_for_object(obj).order_by("timestamp")


def test_user_resolution_is_audited_with_actor_and_before_after(team, make_user, client_for):
    error, _ = make_error_and_alert(team)
    member = make_user("mia", team, "member")
    r = client_for(member).patch(f"{URL}?type=error&id={error.pk}", {"resolved": True, "resolution_notes": "fixed"},
                                 format="json")
    assert r.status_code == 200
    entry = entries_for(WorkflowError.objects.get(pk=error.pk)).last()
    assert entry.actor == member
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.changes_dict["resolved"] == ["False", "True"]
    assert entry.changes_dict["resolved_by"][1] == "mia"


def test_token_acknowledgement_is_audited_with_token_name(team, api):
    _, alert = make_error_and_alert(team)
    r = api.patch(f"{URL}?type=alert&id={alert.pk}", {"acknowledged": True, "acknowledged_by": "team-lead"},
                  format="json")
    assert r.status_code == 200
    entry = entries_for(Alert.objects.get(pk=alert.pk)).last()
    assert entry.actor is None
    assert entry.additional_data["token"] == "ci" and entry.additional_data["team"] == "acme"
    assert entry.changes_dict["acknowledged"] == ["False", "True"]


def test_explicit_execution_changes_are_audited_but_ingest_is_not(team, api):
    r = api.post("/api/v1/executions/", {"workflow_id": "wf-9", "execution_id": "x1", "state": "queued"},
                 format="json")
    assert r.status_code == 201, r.content
    execution = Execution.objects.get(external_id="x1")
    r = api.patch(f"/api/v1/executions/{execution.pk}/", {"state": "canceled"}, format="json")
    assert r.status_code == 200
    actions = [e.action for e in entries_for(execution)]
    assert actions == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    # A log for the same execution moves its state without an audit entry per record.
    api.post(f"{URL}?type=log", {"workflow_id": "wf-9", "execution_id": "x1", "log_level": "info", "message": "m"},
             format="json")
    assert entries_for(execution).count() == 2
