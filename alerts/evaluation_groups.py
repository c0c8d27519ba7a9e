"""What the regression rule kind (alerts/rules/regression.py) reads of error groups, for the event
evaluation (alerts/evaluation_events.py): the task item each "error_group" event becomes, and the
records those items load, fresh from the database.

- "regressed": the item names the occurrence that reopened the group and carries the time of the
  resolution it undid (the reopened group no longer holds it). Loaded only while the group is
  still open and regressed: one resolved or ignored again before the task runs raises nothing.
- "updated" to resolved or ignored: the group was settled again; loaded with whether its workflow
  still has another open regression (then the workflow's alert stays open)."""

from django.db.models import Exists, OuterRef, Subquery

from monitoring.models import ErrorGroup, ErrorGroupStatus, WorkflowError

REGRESSED, SETTLED = "error_group.regressed", "error_group.settled"


def item(event):
    """The task item of an error group event, as a tuple (items are deduplicated)."""
    data = event.data
    if event.action == "regressed":
        moment = data.get("previous_resolved_at")
        return (REGRESSED, str(data["error_id"]), moment.isoformat() if hasattr(moment, "isoformat") else moment,
                data.get("previous_resolved_by") or "")
    return SETTLED, data["id"]


def load_regressions(keys):
    """The occurrences that reopened groups still open and regressed, with their group, workflow and
    execution, and who had resolved the group: as the event said, else from the occurrences
    resolve_group resolved (an item queued before events carried it)."""
    previous = {str(key[0]): (key[1:] + [""])[:2] for key in map(list, keys)}  # id -> [resolved at, by]
    resolver = WorkflowError.objects.filter(group=OuterRef("group_id"), resolved=True).order_by("-timestamp")
    occurrences = list(
        WorkflowError.objects.filter(pk__in=previous, group__status=ErrorGroupStatus.OPEN, group__regressed=True)
        .select_related("group", "workflow__team", "execution")
        .annotate(previous_resolved_by=Subquery(resolver.values("resolved_by")[:1]),
                  last_resolved_at=Subquery(resolver.values("resolved_at")[:1]))
    )
    for occurrence in occurrences:
        moment, by = previous[str(occurrence.pk)]
        occurrence.previous_resolved_at = moment or occurrence.last_resolved_at
        occurrence.previous_resolved_by = by or occurrence.previous_resolved_by
    return occurrences


def load_settled(pks):
    """Groups resolved or ignored again, and whether their workflow still has an open regression."""
    others = ErrorGroup.objects.filter(workflow=OuterRef("workflow_id"), status=ErrorGroupStatus.OPEN,
                                       regressed=True)
    return list(ErrorGroup.objects.filter(pk__in=pks).exclude(status=ErrorGroupStatus.OPEN)
                .select_related("workflow__team").annotate(workflow_regressed=Exists(others)))
