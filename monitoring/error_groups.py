"""Error groups for every adapter (REST API, web UI, admin, MCP server): reading them, and what
people do with them — resolve, ignore, reopen. How errors are filed into groups at ingestion is
monitoring.ingest_errors; the rules are in docs/error-groups.md."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from . import events
from .access import READ, Principal, scope
from .models import ErrorGroup, ErrorGroupStatus, WorkflowError
from .serializers import serialize
from .services import actor_name

SPARKLINE_HOURS = 24


def _name(actor, claimed=""):
    # A principal (a person or a service token) is recorded as services records it; a plain
    # string (a management command, the admin's own wording) as given.
    return actor_name(actor, claimed) if isinstance(actor, Principal) else str(actor)


def _locked(group):
    """The stored group, locked until the transaction ends: concurrent actions on one group run one
    after the other, each deciding from what the previous one wrote. Keeps the caller's workflow."""
    fresh = ErrorGroup.objects.select_for_update(of=("self",)).get(pk=group.pk)
    if ErrorGroup.workflow.field.is_cached(group) and group.workflow_id == fresh.workflow_id:
        fresh.workflow = group.workflow
    return fresh


def _save(group, wanted):
    """Save only what really changes and publish an "error_group" "updated" event only then, so a
    repeated request leaves no audit entry and no event."""
    changed = [name for name, value in wanted.items() if getattr(group, name) != value]
    for name in changed:
        setattr(group, name, wanted[name])
    if changed:
        group.save(update_fields=changed)
        events.publish([events.MonitoringEvent("error_group", "updated", group.team_id, group.workflow_id,
                                               serialize("error_group", group))])
    return group


@transaction.atomic
def resolve_group(group, actor, notes="", claimed=""):
    """Resolve the group and its open occurrences (one UPDATE; the error rollups follow by their
    trigger). Clears `regressed`. A resolved group keeps who resolved it and when; only new notes
    change it. `actor`: a Principal, or a name. Returns the stored group."""
    group = _locked(group)
    now, name = timezone.now(), _name(actor, claimed)
    wanted = {"status": ErrorGroupStatus.RESOLVED, "regressed": False}
    if group.status != ErrorGroupStatus.RESOLVED:
        wanted.update(resolved_at=now, resolved_by=name)
    if notes:
        wanted["resolution_notes"] = notes
    occurrences = {"resolved": True, "resolved_at": now, "resolved_by": wanted.get("resolved_by", group.resolved_by)}
    if notes:
        occurrences["resolution_notes"] = notes
    WorkflowError.objects.filter(group=group, resolved=False).update(**occurrences)
    return _save(group, wanted)


@transaction.atomic
def ignore_group(group, actor):
    """Ignore the group: its occurrences are still counted, nothing reopens it or is raised for it.
    Its occurrences stay as they are."""
    group = _locked(group)
    return _save(group, {"status": ErrorGroupStatus.IGNORED, "regressed": False, "resolved_at": None,
                         "resolved_by": ""})


@transaction.atomic
def reopen_group(group, actor):
    """Open a resolved or ignored group again (a person's decision, not a regression). Its
    occurrences stay as they are."""
    group = _locked(group)
    return _save(group, {"status": ErrorGroupStatus.OPEN, "resolved_at": None, "resolved_by": ""})


ACTIONS = {"resolve": resolve_group, "ignore": ignore_group, "reopen": reopen_group}


# --- reading -----------------------------------------------------------------------------------------
def visible_groups(principal: Principal, action=READ):
    return scope(ErrorGroup.objects.select_related("workflow__team"), principal, action, team_field="team")


def search_groups(principal: Principal, status=None, workflows=None, since=None, until=None, search=None,
                  regressed=None):
    """The groups the principal may see, newest activity first. `status`: a list of statuses;
    `since` / `until` bound last_seen / first_seen (groups active in the period); `search` finds
    the words in the title, node or error code."""
    qs = visible_groups(principal)
    if status:
        qs = qs.filter(status__in=status)
    if regressed is not None:
        qs = qs.filter(regressed=regressed)
    if workflows is not None:
        qs = qs.filter(workflow__in=workflows)
    if since is not None:
        qs = qs.filter(last_seen__gte=since)
    if until is not None:
        qs = qs.filter(first_seen__lte=until)
    if search:
        qs = matching(qs, search)
    return qs.order_by("-last_seen", "-id")


def matching(queryset, search):
    """The groups whose title, node name or error code contains `search` (any case)."""
    return queryset.filter(Q(title__icontains=search) | Q(node_name__icontains=search)
                           | Q(error_code__icontains=search))


def occurrences(group):
    """The group's occurrences still stored (retention deletes old ones; the counts stay), newest first."""
    return (WorkflowError.objects.filter(group=group).select_related("workflow__team", "execution")
            .order_by("-timestamp", "-id"))


def hour_start(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def sparklines(groups, now=None, hours=SPARKLINE_HOURS):
    """{group pk: [occurrences per hour, oldest first]} over the last `hours` hours (the current
    hour last), for a page of groups, with ONE query over the occurrences still stored."""
    now = now or timezone.now()
    first = hour_start(now) - timedelta(hours=hours - 1)
    pks = [g.pk for g in groups]
    out = {pk: [0] * hours for pk in pks}
    if not pks:
        return out
    rows = (WorkflowError.objects.filter(group_id__in=pks, timestamp__gte=first, timestamp__lte=now)
            .annotate(hour=TruncHour("timestamp")).values_list("group_id", "hour").annotate(n=Count("id"))
            .order_by())
    for group_pk, hour, n in rows:
        index = int((hour - first).total_seconds() // 3600)
        if 0 <= index < hours:
            out[group_pk][index] += n
    return out
