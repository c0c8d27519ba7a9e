"""State changes made by people and services: resolving errors, acknowledging and resolving
alerts, creating and updating executions and workflows. Every adapter (REST API, admin, web UI)
calls these, so the rules and the events they publish are the same everywhere."""

from django.db import transaction
from django.utils import timezone

from . import events
from .access import Principal, team_id_of
from .deduplication import record_alert
from .ingest import ensure_workflows
from .metrics import executions as execution_metrics
from .metrics import ingestion as ingestion_metrics
from .models import FINAL_STATES, Alert, AlertSource, Execution
from .serializers import serialize


def actor_name(principal: Principal, claimed: str = "") -> str:
    # A person is recorded as themselves. A service token acts for a system that may name the
    # person behind the action ("resolved_by" in the monitoring endpoint), so its claim is kept, labelled.
    if principal.token is not None:
        return f"{claimed} (via token:{principal.token.name})" if claimed else principal.display_name
    return principal.display_name


def _publish(kind, action, obj, changes=None):
    # A workflow event is its own workflow's; an alert may belong to no workflow (None).
    workflow_pk = obj.pk if kind == "workflow" else obj.workflow_id
    events.publish([events.MonitoringEvent(kind, action, team_id_of(obj), workflow_pk, serialize(kind, obj),
                                           changes=changes)])


def _publish_update(kind, obj):
    _publish(kind, "updated", obj)


def _locked_fresh(obj):
    """The stored row of `obj`, locked until the surrounding transaction ends. Concurrent
    resolves of one record then run one after the other, each deciding from what the previous
    one wrote (not from the copy its request loaded earlier), so a second "resolve" sees the
    record resolved and changes nothing."""
    fresh = type(obj)._default_manager.select_for_update(of=("self",)).get(pk=obj.pk)
    # Reuse the relations the caller already loaded (events and replies serialize workflow, team,
    # execution) while they still point at the same rows.
    fields = {f.name: f for f in type(obj)._meta.concrete_fields}
    for relation in ("team", "workflow", "execution"):
        field = fields.get(relation)
        if field is not None and field.is_cached(obj) and getattr(fresh, field.attname) == getattr(obj, field.attname):
            setattr(fresh, relation, getattr(obj, relation))
    return fresh


def _apply_changes(kind, obj, wanted):
    """Set and save only the fields whose value really changes, and publish an update only then:
    the audit trail (which diffs on save) and live pages see one entry per real change, never
    an entry for a repeated request."""
    changed = [name for name, value in wanted.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, wanted[name])
    if changed:
        obj.save(update_fields=changed)
        _publish_update(kind, obj)
    return obj


@transaction.atomic
def resolve_error(error, principal: Principal, resolved=True, notes="", resolved_by=""):
    """Mark an error resolved (with notes) or reopen it. Resolving a resolved error keeps who
    resolved it and when; only new notes are a change. Returns the stored error."""
    error = _locked_fresh(error)
    wanted = {"resolved": resolved}
    if resolved and not error.resolved:
        wanted.update(resolved_at=timezone.now(), resolved_by=actor_name(principal, resolved_by))
    elif not resolved:
        wanted.update(resolved_at=None, resolved_by="")
    if notes:
        wanted["resolution_notes"] = notes
    return _apply_changes("error", error, wanted)


@transaction.atomic
def update_alert(alert, principal: Principal, acknowledged=None, resolved=None, notes="", actor_claim=""):
    """Acknowledge / unacknowledge and resolve / reopen an alert. Resolving also acknowledges it:
    a resolved alert needs nobody's attention any more. Acknowledging an acknowledged alert (or
    resolving a resolved one) keeps who did it first and when. Returns the stored alert."""
    alert = _locked_fresh(alert)
    now = timezone.now()
    name = actor_name(principal, actor_claim)
    if resolved is True and not alert.acknowledged and acknowledged is None:
        acknowledged = True
    wanted = {}
    if acknowledged is True and not alert.acknowledged:
        wanted.update(acknowledged=True, acknowledged_at=now, acknowledged_by=name)
    elif acknowledged is False:
        wanted.update(acknowledged=False, acknowledged_at=None, acknowledged_by="")
    if resolved is True and not alert.resolved:
        wanted.update(resolved=True, resolved_at=now, resolved_by=name)
    elif resolved is False:
        wanted.update(resolved=False, resolved_at=None, resolved_by="")
    if notes:
        wanted["resolution_notes"] = notes
    return _apply_changes("alert", alert, wanted)


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
    before = None if created else execution.state  # the row is locked: concurrent posts decide in turn
    stored = None if created else {k: getattr(execution, k) for k in fields}
    if not created:
        for k, v in fields.items():
            setattr(execution, k, v)
    _finish_if_final(execution)
    execution.save()
    execution.workflow = workflow
    execution_metrics.finished(team, [(execution, before)])
    repeat = stored is not None and stored == {k: getattr(execution, k) for k in fields}
    ingestion_metrics.written({("execution", "duplicate" if repeat else "accepted"): 1})
    events.publish(
        [events.MonitoringEvent("execution", "created" if created else "updated", team.pk, workflow.pk,
                                serialize("execution", execution))]
    )
    return execution, created


@transaction.atomic
def update_execution(execution, data):
    # The stored state, read under the row's lock: whether this change makes the execution final.
    before = Execution.objects.select_for_update().values_list("state", flat=True).get(pk=execution.pk)
    for k in ("state", "mode", "started_at", "stopped_at", "duration_ms", "total_steps", "current_step",
              "step_number"):
        if k in data:
            setattr(execution, k, data[k])
    if execution.state not in FINAL_STATES and "state" in data:
        execution.stopped_at, execution.duration_ms = None, None
    _finish_if_final(execution)
    execution.last_activity_at = timezone.now()
    execution.save()
    execution_metrics.finished(execution.workflow.team, [(execution, before)])
    _publish_update("execution", execution)
    return execution


# What a person or service may change on a workflow through monitoring; `active` going false is
# what the alerting engine's "deactivated" rule watches for. expected_interval_minutes: how often a
# scheduled workflow should run (None when it is not scheduled).
WORKFLOW_FIELDS = ("name", "active", "tags", "expected_interval_minutes")


@transaction.atomic
def update_workflow(workflow, changes):
    """Change a workflow's name, active flag, tags or schedule (`changes`: {field: value}). When something
    really changes, publishes a "workflow" "updated" event whose `changes` says what, as
    {field: [before, after]}. Returns the stored workflow."""
    unknown = set(changes) - set(WORKFLOW_FIELDS)
    if unknown:
        raise ValueError(f"not a workflow field that can change here: {', '.join(sorted(unknown))}")
    workflow = _locked_fresh(workflow)
    changed = {name: [getattr(workflow, name), value] for name, value in changes.items()
               if getattr(workflow, name) != value}
    for name, (_, value) in changed.items():
        setattr(workflow, name, value)
    if changed:
        workflow.save(update_fields=[*changed, "updated_at"])
        _publish("workflow", "updated", workflow, changes=changed)
    return workflow


def set_workflow_active(workflow, active):
    """Activate or deactivate a workflow (n8n deactivates crashing workflows by itself)."""
    return update_workflow(workflow, {"active": active})


def raise_alert(team, *, fingerprint, alert_type, severity, title, source=AlertSource.POSTED, description="",
                workflow=None, execution=None, labels=None, metadata=None, at=None):
    """Record that an alert condition holds, deduplicated: while an alert with this team and
    fingerprint is open (not resolved), a repeat raises its occurrence count and last-seen time
    (and takes the newest wording) instead of adding a row (monitoring.deduplication). Every
    source (REST posts, alert rules, Alertmanager) comes through here or through ingest, which
    uses the same function, so the alerting engine sees one alert, created once and then updated.
    Publishes an "alert" event, created or updated, after commit. Returns (alert, created)."""
    alert, created = record_alert(
        team, fingerprint=fingerprint, alert_type=alert_type, severity=severity, title=title, source=source,
        description=description, workflow=workflow, execution=execution, labels=labels, metadata=metadata, at=at,
    )
    _publish("alert", "created" if created else "updated", alert)
    return alert, created


@transaction.atomic
def clear_alert(team, fingerprint, *, by="Flowtower (condition cleared)", at=None, notes=""):
    """Resolve the open alert with this fingerprint because its condition no longer holds (a rule
    that resolves by itself, Alertmanager's "resolved"). Returns the alert, or None if none was open."""
    alert = (Alert.objects.select_for_update(of=("self",))
             .filter(team=team, fingerprint=fingerprint, resolved=False).first())
    if alert is None:
        return None
    wanted = {"resolved": True, "resolved_at": at or timezone.now(), "resolved_by": by}
    if notes:
        wanted["resolution_notes"] = notes
    return _apply_changes("alert", alert, wanted)


@transaction.atomic
def mark_alert(alert, *, silenced=None, inhibited=None):
    """Set the alerting engine's marks on an alert (recorded and shown, not notified)."""
    alert = _locked_fresh(alert)
    wanted = {name: value for name, value in (("silenced", silenced), ("inhibited", inhibited)) if value is not None}
    return _apply_changes("alert", alert, wanted)
