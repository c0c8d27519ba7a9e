"""Sends monitoring events to websockets through the channel layer.

Connected to monitoring.events.monitoring_event, so events reach browsers from every source that
writes through monitoring's ingestion and services: the REST API, admin, the web UI, the n8n
mirror and Celery tasks. With Redis (REDIS_URL) the layer crosses processes; without it, the
in-memory layer reaches the sockets of the same process (the demo posts over HTTP for that reason).

One commit can carry thousands of events (a batch). They go out as one message per group, and
past MAX_EVENTS_PER_MESSAGE the rest are only counted, so a burst costs the layer a bounded
amount of work and every browser sees "N more".
"""

import json
import logging
from collections import defaultdict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from rest_framework.utils.encoders import JSONEncoder

from .groups import ALL_TEAMS, team_group, workflow_group

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_MESSAGE = 200
MESSAGE_TYPE = "monitoring.events"  # handled by consumers' monitoring_events()


def to_message(event) -> dict:
    """The websocket message for one event: {"type", "action", "data"} with data as the REST API
    returns it (plain JSON types, as the layer requires)."""
    return {"type": event.type, "action": event.action, "data": json.loads(json.dumps(event.data, cls=JSONEncoder))}


def _grouped(events):
    by_group = defaultdict(list)
    for event in events:
        if event.type == "performance":
            continue  # not streamed: the execution event that follows it carries the outcome
        for group in (team_group(event.team_id), workflow_group(event.workflow_pk), ALL_TEAMS):
            by_group[group].append(event)
    return by_group


def send_events(events):
    layer = get_channel_layer()
    if layer is None:
        return
    for group, group_events in _grouped(events).items():
        kept = group_events[:MAX_EVENTS_PER_MESSAGE]
        message = {
            "type": MESSAGE_TYPE,
            "events": [to_message(e) for e in kept],
            "omitted": len(group_events) - len(kept),
        }
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # the data is committed; a layer outage must not fail the writer
            logger.exception("could not send %d events to %s", len(group_events), group)


def on_events_committed(sender, events, **kwargs):
    send_events(events)
