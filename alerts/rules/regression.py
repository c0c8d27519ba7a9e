"""Regression: an error group that someone resolved gets a new occurrence (monitoring reopens it
as regressed). No params. Raised once per regression; while the workflow's alert is open, another
regression there counts as an occurrence of it. Clears when the workflow has no regressed group
left open (each was resolved or ignored again)."""

from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince

from monitoring.models import AlertType, ErrorGroupStatus

from .base import Observation, RuleKind, event_time, workflow_label
from .params import ParamReader

_SETTLED = (ErrorGroupStatus.RESOLVED, ErrorGroupStatus.IGNORED)
NBSP = "\xa0"  # timesince's "3\xa0days": plain spaces read the same in every channel
TITLE_CHARS = 120  # of the group's title in the alert's title (the full title is in the description)


class Regression(RuleKind):
    kind = "regression"
    alert_type = AlertType.ERROR

    def validate(self, params):
        return ParamReader(params).cleaned()

    def is_event_rule(self, rule):
        return True

    def wants(self, event):
        if event.type != "error_group":
            return False
        # Regressions, and groups settled again (resolve_group / ignore_group publish "updated").
        return event.action == "regressed" or (event.action == "updated" and event.data.get("status") in _SETTLED)

    def observe(self, rule, batch):
        # batch.regressions: the occurrences that reopened a group still open and regressed.
        for occurrence in batch.regressions:
            group = occurrence.group
            yield Observation(
                workflow_id=occurrence.workflow_id,
                holds=True,
                at=event_time(group.regressed_at, occurrence.timestamp),
                execution=occurrence.execution,
                facts={"title": group.title, "node": group.node_name, "occurrences": group.occurrences,
                       "resolved_at": _moment(occurrence.previous_resolved_at),
                       "resolved_by": occurrence.previous_resolved_by or "", "group": group.pk},
            )
        # batch.settled_groups: groups resolved or ignored again; the last one of a workflow clears.
        for group in batch.settled_groups:
            if not group.workflow_regressed:
                yield Observation(group.workflow_id, False, event_time(group.resolved_at))

    def describe(self, rule, workflow, observation):
        facts = observation.facts
        name = workflow_label(workflow)
        if not facts:  # a pending regression fired later by the window pass, from its state alone
            return (f"Regression in {name}",
                    "An error that had been resolved occurred again.")
        title = facts["title"] if len(facts["title"]) <= TITLE_CHARS else facts["title"][:TITLE_CHARS - 1] + "…"
        node = f" (node {facts['node']})" if facts["node"] else ""
        seen = observation.at
        execution = observation.execution
        in_execution = f" in execution {execution.external_id}" if execution is not None else ""
        return (f"Regression: {title} in {name}",
                f"{facts['title']}{node} was {_resolution(facts, seen)}: seen again at"
                f" {seen:%Y-%m-%d %H:%M:%S %Z}{in_execution}. {facts['occurrences']} occurrences in all.")


def _resolution(facts, seen):
    """ "resolved by alice 3 days before": who resolved the group, and how long before it came back."""
    by = f" by {facts['resolved_by']}" if facts["resolved_by"] else ""
    resolved_at = facts["resolved_at"]
    if resolved_at is None:
        return f"resolved{by}"
    if (seen - resolved_at).total_seconds() < 60:
        return f"resolved{by} moments before"
    return f"resolved{by} {timesince(resolved_at, seen, depth=1).replace(NBSP, ' ')} before"


def _moment(value):
    # The event's REST shape carries times as ISO strings; a test or an in-process caller may
    # hand a datetime.
    if value is None or value == "":
        return None
    return parse_datetime(value) if isinstance(value, str) else value


KIND = Regression()
