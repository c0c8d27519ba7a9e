"""Time saved: what a team's automations spare people, as n8n Insights shows it (docs/time-saved.md).

A workflow may carry `minutes_saved_per_run`, the minutes one successful run saves. The time saved
over a period is, summed over workflows, the period's successful executions times that estimate.
Workflows without an estimate count 0 and are reported as not estimated, so the pages can invite
setting one.

The estimate in force now applies to the whole period: changing it recounts the past too. n8n
instead records each successful run's minutes when the run ends (insights' `time_saved_min`
events), so there a change applies to later runs only. Flowtower keeps no history of estimates.

Successes are counted as the executions card counts them (started in the period, state success,
whatever the mode): on PostgreSQL from the rollups (monitoring.rollups, one query for the
estimated workflows), elsewhere (SQLite in the demo) from the executions. Only estimated workflows
are read, so the cost follows how many workflows carry an estimate, not how many there are
(docs/time-saved.md has the figures).
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.db.models import Count
from django.utils import timezone

from . import rollups
from .access import scope
from .models import Execution, ExecutionState, Workflow

MAX_MINUTES_PER_RUN = Decimal(7 * 24 * 60)  # a week: beyond it an estimate is surely a mistake
TOP_WORKFLOWS = 5


def minutes_saved(successes, estimate):
    """The minutes `successes` successful runs save at `estimate` minutes each (None: 0)."""
    return Decimal(successes) * estimate if estimate is not None else Decimal(0)


@dataclass
class WorkflowTimeSaved:
    """One estimated workflow's time saved over the period."""

    pk: int
    estimate: Decimal
    successful_runs: int

    @property
    def minutes(self):
        return minutes_saved(self.successful_runs, self.estimate)


@dataclass
class TimeSaved:
    """The time saved over a period by some workflows: in total and per estimated workflow."""

    workflows: int  # how many workflows were looked at
    rows: list = field(default_factory=list)  # WorkflowTimeSaved of the estimated ones, most saved first

    @property
    def minutes(self):
        return sum((r.minutes for r in self.rows), Decimal(0))

    @property
    def estimated_workflows(self):
        return len(self.rows)

    @property
    def not_estimated_workflows(self):
        return self.workflows - len(self.rows)

    def top(self, count=TOP_WORKFLOWS):
        """[(Workflow, WorkflowTimeSaved)] of the `count` that saved most: one query (the totals
        need no workflow object, so only these few are loaded)."""
        rows = self.rows[:count]
        loaded = Workflow.objects.select_related("team").in_bulk([r.pk for r in rows])
        return [(loaded[r.pk], r) for r in rows if r.pk in loaded]

    def as_dict(self, top=TOP_WORKFLOWS):
        """The JSON shape of the dashboard summary's `time_saved` block: minutes as numbers, the
        workflows that saved most first (at most `top`)."""
        return {
            "minutes": float(self.minutes),
            "hours": round(float(self.minutes) / 60, 2),
            "workflows": self.workflows,
            "estimated_workflows": self.estimated_workflows,
            "not_estimated_workflows": self.not_estimated_workflows,
            "top_workflows": [{
                "workflow_id": workflow.external_id,
                "team": workflow.team.slug,
                "name": workflow.name,
                "minutes_saved_per_run": float(row.estimate),
                "successful_runs": row.successful_runs,
                "minutes": float(row.minutes),
            } for workflow, row in self.top(top)],
        }


def successes(workflows, start, end=None, use_rollups=None):
    """workflow pk -> successful executions started in [start, end] (end None: from start on), for
    `workflows` ((pk, team id) pairs or Workflow objects): one query, from the rollups on
    PostgreSQL (use_rollups=False reads the executions there too: the tests compare both)."""
    pairs = [(w.pk, w.team_id) if isinstance(w, Workflow) else tuple(w) for w in workflows]
    if not pairs:
        return {}
    if rollups.available() if use_rollups is None else use_rollups:
        return rollups.successes(rollups.workflows_target(pairs), start, end)
    runs = Execution.objects.filter(workflow__in=[pk for pk, _ in pairs], state=ExecutionState.SUCCESS,
                                    started_at__gte=start)
    if end is not None:
        runs = runs.filter(started_at__lte=end)
    return dict(runs.order_by().values("workflow_id").annotate(n=Count("pk")).values_list("workflow_id", "n"))


def time_saved(workflows, start, end=None, use_rollups=None):
    """TimeSaved of `workflows` (a queryset, already scoped to what the reader may see) over
    [start, end]: one query for the workflows (ids and estimates only), one for the successes of
    the estimated ones (none when no workflow is estimated)."""
    listed = list(workflows.order_by().values_list("pk", "team_id", "minutes_saved_per_run"))
    estimated = {(pk, team_id): estimate for pk, team_id, estimate in listed if estimate is not None}
    counts = successes(estimated, start, end, use_rollups)
    rows = [WorkflowTimeSaved(pk, estimate, counts.get(pk, 0)) for (pk, _), estimate in estimated.items()]
    rows.sort(key=lambda r: (-r.minutes, r.pk))
    return TimeSaved(workflows=len(listed), rows=rows)


def humane(minutes):
    """Minutes as people read them: "45 min", "12 h 30 min", "1,234 h" (whole minutes; hours
    alone from 100 h on, where the minutes no longer matter)."""
    if minutes is None:
        return ""
    total = int(Decimal(minutes).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    hours, rest = divmod(total, 60)
    if not hours:
        return f"{rest} min"
    if hours >= 100 or not rest:
        return f"{hours:,} h"
    return f"{hours} h {rest} min"


def set_estimate(workflow, minutes):
    """Set (a Decimal, 0 to MAX_MINUTES_PER_RUN) or clear (None) a workflow's minutes saved per
    successful run. Returns the workflow. Not a workflow event: no alert rule depends on it."""
    if minutes is not None and not (0 <= minutes <= MAX_MINUTES_PER_RUN):
        raise ValueError(f"minutes saved per run must be from 0 to {MAX_MINUTES_PER_RUN}")
    if workflow.minutes_saved_per_run != minutes:
        workflow.minutes_saved_per_run = minutes
        workflow.save(update_fields=["minutes_saved_per_run", "updated_at"])
    return workflow


WORKFLOW_WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30)}


def for_workflow(workflow, now=None, use_rollups=None):
    """One workflow's time saved over the last 7 and 30 days (its page): {"7d": (successful runs,
    minutes), "30d": …}; minutes None when it has no estimate."""
    now = now or timezone.now()
    out = {}
    for name, length in WORKFLOW_WINDOWS.items():
        runs = successes([workflow], now - length, None, use_rollups).get(workflow.pk, 0)
        estimate = workflow.minutes_saved_per_run
        out[name] = (runs, minutes_saved(runs, estimate) if estimate is not None else None)
    return out


def dashboard_block(principal, workflows, team_slug, start, end):
    """The dashboard summary's `time_saved` block for what the summary covers: the given workflows
    (as far as visible), else one team, else every team the principal may see."""
    visible = scope(Workflow.objects.all(), principal, team_field="team")
    if workflows is not None:
        visible = visible.filter(pk__in=workflows)
    if team_slug is not None:
        visible = visible.filter(team__slug=team_slug)
    return time_saved(visible, start, end).as_dict()


def estimate_form_field(**kwargs):
    """The form field of an estimate, as the workflow page and the admin take it: empty clears it,
    0 to MAX_MINUTES_PER_RUN, 2 decimals (the model's column alone would take negatives)."""
    return forms.DecimalField(required=False, min_value=0, max_value=MAX_MINUTES_PER_RUN, max_digits=7,
                              decimal_places=2, **kwargs)
