"""Websocket consumers: /ws/monitoring/ (everything the user may see) and /ws/workflows/<id>/
(one workflow, by its /api/v1/workflows/ id). Thin adapters: who may see what comes from
monitoring.access; events come from monitoring.live.fanout.

Each message a client receives is JSON: {"type": "execution"|"log"|"error"|"alert",
"action": "created"|"updated", "data": <the object as the REST API returns it>}, or
{"type": "omitted", "count": N} when a burst was more than the socket may send.

Bursts stay bounded: events wait in a fixed-size buffer and are sent at most MAX_PER_FLUSH every
FLUSH_SECONDS; what overflows is counted, not kept. Clients acknowledge what they have processed
with {"type": "ack", "count": N}; the server stops sending while MAX_UNACKED messages are
unacknowledged, so a client that stops reading holds at most that many in the server's send
buffers, and everything else waits in the fixed buffer or is counted as omitted.
"""

import asyncio
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ..access import READ, Principal
from ..models import Workflow
from .groups import ALL_TEAMS, team_group, workflow_group

FLUSH_SECONDS = 0.1
MAX_PER_FLUSH = 50
BUFFER_SIZE = 500
MAX_UNACKED = 1000

# Close codes (4000-4999 are the application's): not signed in; no such workflow for this user.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class _LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.joined, self.flusher = [], None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await database_sync_to_async(self.groups_for)(Principal(user=user))
        if not groups:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = groups
        self.buffer, self.omitted, self.unacked = deque(maxlen=BUFFER_SIZE), 0, 0
        await self.accept()
        self.flusher = asyncio.create_task(self._flush_forever())

    def groups_for(self, principal):
        raise NotImplementedError

    async def disconnect(self, code):
        if self.flusher is not None:
            self.flusher.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

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

    async def monitoring_events(self, message):
        for event in message["events"]:
            if len(self.buffer) == self.buffer.maxlen:
                self.omitted += 1  # the oldest waiting event is dropped: a live view wants the newest
            self.buffer.append(event)
        self.omitted += message.get("omitted", 0)

    async def _send_counted(self, message):
        self.unacked += 1
        await self.send_json(message)

    async def _flush_forever(self):
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            for _ in range(min(len(self.buffer), MAX_PER_FLUSH, MAX_UNACKED - self.unacked)):
                await self._send_counted(self.buffer.popleft())
            if self.omitted and not self.buffer and self.unacked < MAX_UNACKED:
                await self._send_counted({"type": "omitted", "count": self.omitted})
                self.omitted = 0


class MonitoringConsumer(_LiveConsumer):
    """Every event of every team the user belongs to (every team for super admins)."""

    def groups_for(self, principal):
        if principal.is_superuser:
            return [ALL_TEAMS]
        return [team_group(team_id) for team_id in sorted(principal.team_ids(READ))]


class WorkflowConsumer(_LiveConsumer):
    """The events of one workflow; another team's workflow is refused like a missing one."""

    def groups_for(self, principal):
        pk = self.scope["url_route"]["kwargs"]["workflow_id"]
        workflow = Workflow.objects.filter(pk=pk).only("team_id").first()
        if workflow is None or not principal.can(READ, workflow.team_id):
            return []
        return [workflow_group(workflow.pk)]
