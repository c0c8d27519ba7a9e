"""Websocket consumers: /ws/monitoring/ (everything the user may see) and /ws/workflows/<id>/
(one workflow, by its /api/v1/workflows/ id or by the workflow id services post, e.g. "wf-001",
with ?team=<slug> to pick one team). Thin adapters: who may see what comes from monitoring.access
and monitoring.queries; events come from monitoring.live.fanout.

Each message a client receives is JSON: {"type": "execution"|"log"|"error"|"error_group"|"alert"|
"workflow", "action": "created"|"updated"|"regressed", "data": <the object as the REST API returns it>} (an alert of no
workflow reaches /ws/monitoring/ only; a "workflow" event says its name, active flag or tags changed),
{"type": "omitted", "count": N} when a burst was more than the socket may send, or
{"type": "heartbeat", "interval": S}: sent on connect and after every S quiet seconds, so proxies
see traffic and a page can tell a dead connection from a quiet one.

Refusals are close codes the client can read: the socket is accepted, then closed with 4401 (not
signed in), 4404 (no such workflow for this user, or no such websocket path) or 1013 (the channel
layer is unreachable: try again later). A browser sees a refusal made before accepting only as a
failed handshake (HTTP 403), without a reason.

Events are sent the moment they arrive while the socket's budget allows: at most MAX_PER_FLUSH in
any FLUSH_SECONDS, and nothing while MAX_UNACKED messages are unacknowledged. Only a burst beyond
that waits, in a fixed-size buffer (BUFFER_SIZE); what overflows it is counted, not kept. Clients
acknowledge what they have processed with {"type": "ack", "count": N}, so a client that stops
reading holds at most MAX_UNACKED messages in the server's send buffers.
"""

import asyncio
import logging
import re
from collections import deque

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.http import QueryDict

from ..access import READ, Principal
from ..metrics import websockets as websocket_metrics
from ..queries import WorkflowNotFound, find_workflows, visible_workflows
from .fanout import MESSAGE_TYPE
from .groups import ALL_TEAMS, team_group, workflow_group
from .hub import hub

FLUSH_SECONDS = 0.1  # the rate window: at most MAX_PER_FLUSH messages in any window this long
MAX_PER_FLUSH = 50
BUFFER_SIZE = 500
MAX_UNACKED = 1000
# Under common proxy idle timeouts (nginx's proxy_read_timeout is 60 s), and short enough that a
# page notices a dead connection within a minute (it waits a little over two intervals).
HEARTBEAT_SECONDS = 25

# Close codes (4000-4999 are the application's): not signed in; no such workflow for this user,
# or no such websocket path.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN_LATER = 1013  # the standard code: the channel layer (Redis) is unreachable

NUMERIC_ID = re.compile(r"[0-9]+")

logger = logging.getLogger(__name__)


async def refuse(consumer, code):
    """Accept, then close with `code`: a close code refused before accepting never reaches the
    client (the handshake fails with HTTP 403 and no reason)."""
    await consumer.accept()
    await consumer.close(code=code)


class _LiveConsumer(AsyncJsonWebsocketConsumer):
    # No channel of its own on the layer: the process's hub (monitoring.live.hub) receives for all
    # its sockets. Channels gives a consumer a channel only for a configured layer alias, and
    # get_channel_layer() returns None for this one.
    channel_layer_alias = "flowtower.live.no-per-socket-channel"

    async def connect(self):
        self.joined, self.tasks = [], []
        self.buffer, self.omitted, self.unacked = deque(maxlen=BUFFER_SIZE), 0, 0
        self.sent_at = deque(maxlen=MAX_PER_FLUSH)  # when the latest sends went out: the rate window
        self.last_sent, self.waking, self.sending = 0.0, None, None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        groups = await database_sync_to_async(self.groups_for)(Principal(user=user))
        if not groups:
            await refuse(self, CLOSE_NOT_FOUND)
            return
        try:
            await hub().join(self, groups)
        except Exception as error:  # Redis unreachable: the page retries with back-off
            logger.warning("live updates unavailable, socket refused: the channel layer failed: %r", error)
            await refuse(self, CLOSE_TRY_AGAIN_LATER)
            return
        self.joined = groups
        await self.accept()
        websocket_metrics.opened()
        self.counted = True  # disconnect() takes it off the gauge
        await self._send_heartbeat()  # tells the client the interval; it is subscribed from here on
        self.tasks.append(asyncio.create_task(self._heartbeat_forever()))

    def groups_for(self, principal):
        raise NotImplementedError

    async def dispatch(self, message):
        """Channels' dispatch first closes stale database connections, in the one thread that also
        runs Django's sync views: a thread hop per event per socket, queued behind REST requests
        and delaying them. Only connect() uses the database, through database_sync_to_async,
        which does that cleanup itself; so handlers are called directly."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code):
        if getattr(self, "counted", False):
            websocket_metrics.closed()
            self.counted = False
        for task in self.tasks + [self.waking, self.sending]:
            if task is not None:
                task.cancel()
        if self.joined:
            await hub().leave(self, self.joined)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None  # not JSON: ignored, like anything else but an ack

    async def receive_json(self, content, **kwargs):
        """Clients only listen, and acknowledge: {"type": "ack", "count": N}."""
        if isinstance(content, dict) and content.get("type") == "ack":
            count = content.get("count")
            if isinstance(count, int) and count > 0:
                self.unacked = max(0, self.unacked - count)
                await self._drain()  # acknowledgements may have made room

    def receive_from_group(self, message):
        """A fan-out message for a group this socket joined, from the process's hub: buffered at
        once, in arrival order; sent by one task at a time, so the order holds and a client slow to
        read holds up only its own socket."""
        if message.get("type") != MESSAGE_TYPE:
            return
        for event in message["events"]:
            if len(self.buffer) == self.buffer.maxlen:
                self.omitted += 1  # the oldest waiting event is dropped: a live view wants the newest
            self.buffer.append(event)
        self.omitted += message.get("omitted", 0)
        if self.sending is None:
            self.sending = asyncio.create_task(self._send_buffered())

    async def _send_buffered(self):
        try:
            while True:  # events that arrived while the last send was awaited go out too
                await self._drain()
                if not (self.buffer and self._may_send()):
                    return
        finally:
            self.sending = None

    def _may_send(self) -> bool:
        """Within budget: fewer than MAX_UNACKED unacknowledged, and fewer than MAX_PER_FLUSH sent
        in the last FLUSH_SECONDS."""
        if self.unacked >= MAX_UNACKED:
            return False
        return len(self.sent_at) < MAX_PER_FLUSH or self._now() - self.sent_at[0] >= FLUSH_SECONDS

    async def _drain(self):
        """Send what waits, now, as far as the budget allows; then the omitted count once nothing
        waits. If the rate window is what stops us, wake up when it has room again (an ack wakes
        us when the unacknowledged limit is what stops us)."""
        while self.buffer and self._may_send():
            await self._send_counted(self.buffer.popleft())
        if self.omitted and not self.buffer and self._may_send():
            count, self.omitted = self.omitted, 0
            await self._send_counted({"type": "omitted", "count": count})
        waiting = self.buffer or self.omitted
        if waiting and self.unacked < MAX_UNACKED and self.waking is None:
            delay = self.sent_at[0] + FLUSH_SECONDS - self._now() if self.sent_at else 0
            self.waking = asyncio.create_task(self._drain_after(delay))

    async def _drain_after(self, delay):
        await asyncio.sleep(max(delay, 0))
        self.waking = None
        await self._drain()

    async def _send_counted(self, message):
        """Send one message: an event's JSON text as the fan-out encoded it, or our own dict."""
        now = self._now()
        self.unacked += 1
        self.sent_at.append(now)
        self.last_sent = now
        if isinstance(message, str):
            await self.send(text_data=message)
        else:
            await self.send_json(message)

    async def _send_heartbeat(self):
        await self._send_counted({"type": "heartbeat", "interval": HEARTBEAT_SECONDS})

    async def _heartbeat_forever(self):
        """A heartbeat after every HEARTBEAT_SECONDS without a message; none to a client that has
        stopped acknowledging (it would only add to what it does not read)."""
        while True:
            quiet_until = self.last_sent + HEARTBEAT_SECONDS
            if self._now() < quiet_until:
                await asyncio.sleep(quiet_until - self._now())
            elif self.unacked < MAX_UNACKED:
                await self._send_heartbeat()
            else:
                await asyncio.sleep(HEARTBEAT_SECONDS)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()


class MonitoringConsumer(_LiveConsumer):
    """Every event of every team the user belongs to (every team for super admins)."""

    def groups_for(self, principal):
        if principal.is_superuser:
            return [ALL_TEAMS]
        return [team_group(team_id) for team_id in sorted(principal.team_ids(READ))]


class WorkflowConsumer(_LiveConsumer):
    """The events of one workflow, named by its /api/v1/workflows/ id (digits) or by its external
    id, which can name one workflow in each of several teams (and sources): the socket follows all
    of them unless ?team=<slug> picks one team, as the REST API's workflow_id filter does. Another
    team's workflow is refused like a missing one."""

    def groups_for(self, principal):
        reference = self.scope["url_route"]["kwargs"]["workflow_id"]
        team_slug = QueryDict(self.scope.get("query_string", b"")).get("team") or None
        if NUMERIC_ID.fullmatch(reference):
            workflows = visible_workflows(principal).filter(pk=int(reference))
            if team_slug:
                workflows = workflows.filter(team__slug=team_slug)
        else:
            try:
                workflows = find_workflows(principal, external_id=reference, team_slug=team_slug)
            except WorkflowNotFound:
                return []
        return [workflow_group(pk) for pk in workflows.order_by("pk").values_list("pk", flat=True)]


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other /ws/ path: a clean refusal (4404) instead of the router's error."""

    async def connect(self):
        await refuse(self, CLOSE_NOT_FOUND)
