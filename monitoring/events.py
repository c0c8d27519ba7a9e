"""Monitoring events, published after the database commit.

Whatever changes monitoring data (REST API, admin, web UI, n8n mirror, Celery tasks) goes through
monitoring.ingest / monitoring.services, which call `publish`. Listeners — the alerting engine,
the websocket fan-out — connect to `monitoring_event` and never import the code that wrote the
data, so they behave the same whatever the source. A rolled-back transaction publishes nothing.

Event types: execution, log, error, performance, alert, workflow. `action` is created / updated.
`data` is the object as the REST API returns it. `workflow_pk` is None for an alert that belongs
to no workflow (an infrastructure alert from Alertmanager). A "workflow" event (updated) says that
a workflow's name, active flag or tags changed; its `changes` holds {field: [before, after]}.

"error_group" events (docs/error-groups.md; `data` is the group's REST shape): "created" when
ingestion files the first occurrence of a new group; "updated" when a person resolves, ignores or
reopens it; "regressed" once per group that a batch reopened (it was resolved and an occurrence
came from an execution that held none), its data adding "error_id" (the reopening occurrence's id,
a string), "execution_pk" (its execution's primary key), "previous_resolved_at" and
"previous_resolved_by" (when and by whom the group had been resolved). An ignored group publishes nothing when it gets occurrences.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Receivers get `event=<MonitoringEvent>`, one call per event.
monitoring_event = Signal()
# Receivers get `events=[MonitoringEvent, …]`: everything one commit published, in one call, for
# listeners that do better with the whole burst at once (the websocket fan-out).
monitoring_events_committed = Signal()


@dataclass(frozen=True)
class MonitoringEvent:
    type: str  # execution | log | error | performance | alert | workflow | error_group
    action: str  # created | updated (error_group also: regressed)
    team_id: int
    workflow_pk: int | None  # None: an alert of no workflow
    data: dict
    changes: dict | None = field(default=None, compare=False)  # workflow events: {field: [before, after]}


class LazyMonitoringEvent(MonitoringEvent):
    """A MonitoringEvent whose `data` is built on first read, then kept: a batch publishes an
    event per record, and listeners read the data of only some (the websocket fan-out sends at
    most a few hundred per burst), so building every record's REST shape up front was wasted.
    `build(source)` returns the same dict the eager event would have carried (e.g. a serializer's
    to_representation and the record)."""

    def __init__(self, type, action, team_id, workflow_pk, build, source):
        # Frozen: the fields are set as the dataclass's own __init__ sets them, past __setattr__.
        self.__dict__.update(type=type, action=action, team_id=team_id, workflow_pk=workflow_pk, changes=None,
                             _build=build, _source=source)

    @property
    def data(self):
        state = self.__dict__
        if "_data" not in state:
            state["_data"] = state["_build"](state["_source"])
        return state["_data"]


def _report(responses):
    for receiver, result in responses:
        if isinstance(result, Exception):
            # One broken listener must not lose the event for the others, nor fail the request
            # whose data is already committed.
            logger.error("monitoring event listener %r failed: %r", receiver, result)


def _send(events):
    _report(monitoring_events_committed.send_robust(sender=MonitoringEvent, events=events))
    for event in events:
        _report(monitoring_event.send_robust(sender=MonitoringEvent, event=event))


def publish(events):
    """Queue events to be sent once the current transaction commits (at once outside one)."""
    events = list(events)
    if events:
        transaction.on_commit(lambda: _send(events))
