"""Executions and errors, counted in the process that writes them.

An execution is counted once, when it reaches a final state (success, error, crashed, canceled)
from a state that was not final. The writers — monitoring.ingest (REST records, batches, the n8n
mirror) and monitoring.services (POST/PATCH of an execution, admin) — hold the execution's row
locked (SELECT … FOR UPDATE) while they decide, so of two concurrent writers only the first sees
the transition; a repeat POST or a re-sync of a final execution finds it final already and counts
nothing. Counting happens after the commit, so a rolled-back write counts nothing."""

from django.db import transaction
from prometheus_client import Counter, Histogram

from monitoring.models import FINAL_STATES

from .labels import workflow_label

EXECUTIONS = Counter(
    "flowtower_executions_total", "Executions that reached a final state, by team, workflow and final state.",
    ["team", "workflow", "status"],
)
EXECUTION_DURATION = Histogram(
    "flowtower_execution_duration_seconds", "Duration of executions that reached a final state.",
    ["team", "workflow"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
ERRORS = Counter(
    "flowtower_errors_total", "Workflow errors recorded, by team, error type and severity.",
    ["team", "error_type", "severity"],
)


def finished(team, changes):
    """`changes`: [(execution, state before this write)], inside the writing transaction. Counts
    those that became final now, once the transaction commits."""
    finals = [execution for execution, before in changes
              if execution.state in FINAL_STATES and before not in FINAL_STATES]
    # One label lookup per workflow, however many of its executions a batch finishes.
    names = {e.workflow_id: workflow_label(e.workflow) for e in {e.workflow_id: e for e in finals}.values()}
    rows = [(names[e.workflow_id], str(e.state), e.duration_ms) for e in finals]
    if rows:
        slug = team.slug
        transaction.on_commit(lambda: _count(slug, rows), robust=True)


def _count(team_slug, rows):
    for workflow, status, duration_ms in rows:
        EXECUTIONS.labels(team_slug, workflow, status).inc()
        if duration_ms is not None:
            EXECUTION_DURATION.labels(team_slug, workflow).observe(duration_ms / 1000)


def errors_recorded(team, new_errors, replaced=()):
    """Count newly known errors once the transaction commits. `replaced`: errors a re-sent
    execution had before (they were deleted and sent again), so a re-sync of the same execution
    counts only what is new: per (error type, severity), what the write adds beyond them."""
    net = {}
    for error in new_errors:
        key = (str(error.error_type), str(error.severity))
        net[key] = net.get(key, 0) + 1
    for key in replaced:
        net[key] = net.get(key, 0) - 1
    net = {key: n for key, n in net.items() if n > 0}
    if net:
        slug = team.slug
        transaction.on_commit(
            lambda: [ERRORS.labels(slug, error_type, severity).inc(n) for (error_type, severity), n in net.items()],
            robust=True)
