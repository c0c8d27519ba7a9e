"""State changes made by people and services: resolving errors, acknowledging and resolving
alerts, creating and updating executions and workflows. Every adapter (REST API, admin, web UI)
calls these, so the rules and the events they publish are the same everywhere."""

from django.db import transaction
from django.utils import timezone

from . import events
from .access import Principal
from .ingest import ensure_workflows
from .models import FINAL_STATES, Execution
from .serializers import serialize


def _actor_name(principal: Principal, claimed: str = "") -> str:
    # A person is recorded as themselves. A service token acts for a system that may name the
    # person behind the action ("resolved_by" in the monitoring endpoint), so its claim is kept, labelled.
    if principal.token is not None:
        return f"{claimed} (via token:{principal.token.name})" if claimed else principal.display_name
    return principal.display_name


def _publish_update(kind, obj):
    events.publish(
        [events.MonitoringEvent(kind, "updated", obj.workflow.team_id, obj.workflow_id, serialize(kind, obj))]
    )


@transaction.atomic
def resolve_error(error, principal: Principal, resolved=True, notes="", resolved_by=""):
    """Mark an error resolved (with notes) or reopen it."""
    error.resolved = resolved
    if resolved:
        error.resolved_at = timezone.now()
        error.resolved_by = _actor_name(principal, resolved_by)
        error.resolution_notes = notes or error.resolution_notes
    else:
        error.resolved_at = None
        error.resolved_by = ""
        if notes:
            error.resolution_notes = notes
    error.save(update_fields=["resolved", "resolved_at", "resolved_by", "resolution_notes"])
    _publish_update("error", error)
    return error


@transaction.atomic
def update_alert(alert, principal: Principal, acknowledged=None, resolved=None, notes="", actor_claim=""):
    """Acknowledge / unacknowledge and resolve / reopen an alert. Resolving also acknowledges it:
    a resolved alert needs nobody's attention any more."""
    now = timezone.now()
    name = _actor_name(principal, actor_claim)
    if resolved is True and not alert.acknowledged and acknowledged is None:
        acknowledged = True
    if acknowledged is True and not alert.acknowledged:
        alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = True, now, name
    elif acknowledged is False:
        alert.acknowledged, alert.acknowledged_at, alert.acknowledged_by = False, None, ""
    if resolved is True and not alert.resolved:
        alert.resolved, alert.resolved_at, alert.resolved_by = True, now, name
    elif resolved is False:
        alert.resolved, alert.resolved_at, alert.resolved_by = False, None, ""
    if notes:
        alert.resolution_notes = notes
    alert.save(
        update_fields=[
            "acknowledged", "acknowledged_at", "acknowledged_by", "resolved", "resolved_at", "resolved_by",
            "resolution_notes",
        ]
    )
    _publish_update("alert", alert)
    return alert


def _finish_if_final(execution):
    if execution.state in FINAL_STATES:
        execution.stopped_at = execution.stopped_at or timezone.now()
        if execution.duration_ms is None:
            execution.duration_ms = max(0, int((execution.stopped_at - execution.started_at).total_seconds() * 1000))


@transaction.atomic
def create_execution(team, data, source="api"):
    """Create (or, when it exists, update) an execution explicitly. `data` comes from
    monitoring.api's ExecutionIn: workflow_id, execution_id, state, mode, started_at, … ."""
    workflow = ensure_workflows(team, source, {"execution": [data]})[data["workflow_id"]]
    fields = {k: data[k] for k in ("state", "mode", "started_at", "stopped_at", "duration_ms", "total_steps",
                                   "current_step", "step_number") if data.get(k) is not None}
    if data.get("retry_of"):
        fields["retry_of"] = Execution.objects.filter(workflow=workflow, external_id=data["retry_of"]).first()
    execution, created = Execution.objects.select_for_update().get_or_create(
        workflow=workflow, external_id=data["execution_id"], defaults=fields
    )
    if not created:
        for k, v in fields.items():
            setattr(execution, k, v)
    _finish_if_final(execution)
    execution.save()
    execution.workflow = workflow
    events.publish(
        [events.MonitoringEvent("execution", "created" if created else "updated", team.pk, workflow.pk,
                                serialize("execution", execution))]
    )
    return execution, created


@transaction.atomic
def update_execution(execution, data):
    for k in ("state", "mode", "started_at", "stopped_at", "duration_ms", "total_steps", "current_step",
              "step_number"):
        if k in data:
            setattr(execution, k, data[k])
    if execution.state not in FINAL_STATES and "state" in data:
        execution.stopped_at, execution.duration_ms = None, None
    _finish_if_final(execution)
    execution.last_activity_at = timezone.now()
    execution.save()
    _publish_update("execution", execution)
    return execution

