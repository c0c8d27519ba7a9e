"""Which workflows a rule covers: all of its team's, one workflow, or those carrying a tag."""

import json
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import TextField
from django.db.models.functions import Cast

from monitoring.models import Workflow


def in_scope(rule, workflow) -> bool:
    """Whether one workflow (a model instance or a WorkflowRow) is covered by the rule."""
    if workflow.team_id != rule.team_id:
        return False
    if rule.workflow_id:
        return workflow.pk == rule.workflow_id
    if rule.tag:
        return rule.tag in (workflow.tags or [])
    return True


@dataclass(frozen=True)
class WorkflowRow:
    """What a window pass needs of a workflow; full model instances are loaded only for the few
    that raise an alert."""

    pk: int
    team_id: int
    tags: tuple
    active: bool
    expected_interval_minutes: int | None = None  # the workflow's schedule, when it has one


class Scope:
    """The workflows of the teams that have rules, loaded once per pass (one query) and indexed
    by team and tag, so resolving 30,000 rules' scopes costs dictionary look-ups. Tags are read
    as text and parsed only when there are some (most workflows have none)."""

    def __init__(self, team_ids):
        self.by_pk = {}
        self._by_team = defaultdict(list)
        self._by_tag = defaultdict(list)
        rows = (Workflow.objects.filter(team_id__in=team_ids)
                .values_list("pk", "team_id", Cast("tags", TextField()), "active", "expected_interval_minutes"))
        for pk, team_id, tags, active, expected_interval in rows.iterator(chunk_size=5000):
            tags = tuple(t for t in json.loads(tags) if isinstance(t, str)) if tags and tags != "[]" else ()
            row = WorkflowRow(pk, team_id, tags, active, expected_interval)
            self.by_pk[pk] = row
            self._by_team[team_id].append(row)
            for tag in tags:
                self._by_tag[(team_id, tag)].append(row)

    def workflows(self, rule):
        if rule.workflow_id:
            row = self.by_pk.get(rule.workflow_id)
            return [row] if row is not None and row.team_id == rule.team_id else []
        if rule.tag:
            return self._by_tag.get((rule.team_id, rule.tag), [])
        return self._by_team.get(rule.team_id, [])
