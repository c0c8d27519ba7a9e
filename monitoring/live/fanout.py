"""Sends monitoring events to websockets through the channel layer.

Connected to monitoring.events.monitoring_event, so events reach browsers from every source that
writes through monitoring's ingestion and services: the REST API, admin, the web UI, the n8n
mirror and Celery tasks. With Redis (REDIS_URL) the layer crosses processes; without it, the
in-memory layer reaches the sockets of the same process (the demo posts over HTTP for that reason).

One commit can carry thousands of events (a batch). They go out as one message per group,
{"type": "monitoring.events", "group": <its group>, "events": [<JSON text of each event>],
"omitted": N}, and past
MAX_EVENTS_PER_MESSAGE the rest are only counted, so a burst costs the layer a bounded amount of
work and every browser sees "N more".
"""

import asyncio
import json
import logging
import os
import threading
from collections import defaultdict

from channels.layers import InMemoryChannelLayer, get_channel_layer
from rest_framework.utils.encoders import JSONEncoder

from .groups import ALL_TEAMS, team_group, workflow_group
from .hub import hub_loops

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_MESSAGE = 200
MESSAGE_TYPE = "monitoring.events"  # handled by consumers' monitoring_events()


def to_text(event) -> str:
    """The websocket message for one event, as JSON text: {"type", "action", "data"} with data as
    the REST API returns it. Encoded once here: every socket forwards the same text, so fifty open
    pages cost one encoding, and the layer carries only strings."""
    return json.dumps({"type": event.type, "action": event.action, "data": event.data}, cls=JSONEncoder)


def _groups_of(event):
    """The team's group, every team's, and the workflow's when the event has one: an alert of no
    workflow (from Alertmanager) reaches its team's sockets only."""
    if event.workflow_pk is None:
        return (team_group(event.team_id), ALL_TEAMS)
    return (team_group(event.team_id), workflow_group(event.workflow_pk), ALL_TEAMS)


def _grouped(events):
    by_group = defaultdict(list)
    for event in events:
        if event.type == "performance":
            continue  # not streamed: the execution event that follows it carries the outcome
        for group in _groups_of(event):
            by_group[group].append(event)
    return by_group


def send_events(events):
    layer = get_channel_layer()
    if layer is None:
        return
    messages, texts = [], {}  # each event goes to two or three groups; it is encoded once
    for group, group_events in _grouped(events).items():
        kept = group_events[:MAX_EVENTS_PER_MESSAGE]
        messages.append((group, {
            "type": MESSAGE_TYPE,
            "group": group,  # the process's hub gives it to this group's sockets only
            "events": [texts[id(e)] if id(e) in texts else texts.setdefault(id(e), to_text(e)) for e in kept],
            "omitted": len(group_events) - len(kept),
        }))
    if not messages:
        return
    if isinstance(layer, InMemoryChannelLayer):
        _send_in_process(layer, messages)
        return
    future = asyncio.run_coroutine_threadsafe(_send_all(layer, messages), _sender_loop())
    try:
        future.result(SEND_TIMEOUT_SECONDS)
    except TimeoutError:  # the data is committed: a slow layer must not fail the writer
        future.cancel()
        logger.warning("live update skipped: the channel layer did not answer within %s s", SEND_TIMEOUT_SECONDS)


def _send_in_process(layer, messages):
    """The in-memory layer (the demo, without Redis) reaches only this process's sockets, and its
    queues belong to the event loop they listen on: send from each loop whose hub has sockets (the
    server's), none when no socket is open. From a request's thread (config.wsgi_bridge) there is
    no way back to that loop but this one."""
    for loop in hub_loops():
        if loop.is_closed():
            continue
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # already on it (async code): must not block the loop waiting on itself
            loop.create_task(_send_all(layer, messages))
        else:
            asyncio.run_coroutine_threadsafe(_send_all(layer, messages), loop).result(SEND_TIMEOUT_SECONDS)


SEND_TIMEOUT_SECONDS = 5
_sender = {"pid": None, "loop": None}
_sender_lock = threading.Lock()


def _sender_loop():
    """This process's event loop for sending to the Redis layer, in a daemon thread of its own,
    started on first use (and again in a forked child: a loop does not survive a fork).

    Without it, async_to_sync from a request thread either hopped to the server's event loop
    (Daphne: the sends queued behind HTTP and websocket work) or, with no server loop (WSGI
    workers, Celery), ran a new event loop per call, and channels-redis keeps its connections per
    loop: a new Redis connection per published event. One long-lived loop keeps one pool."""
    with _sender_lock:
        if _sender["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender.update(pid=os.getpid(), loop=loop)
        return _sender["loop"]


async def _send_all(layer, messages):
    """All groups at once, in one trip to the event loop: the writer (a request, a task) waits for
    the slowest group, not for the sum of them."""
    results = await asyncio.gather(*(layer.group_send(group, message) for group, message in messages),
                                   return_exceptions=True)
    failed = [(group, result) for (group, _), result in zip(messages, results) if isinstance(result, Exception)]
    if failed:  # the data is committed; a layer outage must not fail the writer, only be reported
        logger.warning("live update skipped: could not send to %s: %r", ", ".join(g for g, _ in failed), failed[0][1])


def on_events_committed(sender, events, **kwargs):
    send_events(events)
