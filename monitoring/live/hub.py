"""One channel-layer subscription per process for all of its sockets.

Each socket used to join the layer's groups with a channel of its own, so an event for a team
reached every socket through the layer's receive, per socket: two tasks created and cancelled, a
queue and a wake-up each. At 500 sockets in one process that was a third of the process's CPU per
event (py-spy, docs/serving.md). Here the process (its event loop) joins each group once, with one
channel, receives each event once per group, and hands it to its sockets of that group directly.

Messages must name their group ({"group": <name>, ...}; monitoring.live.fanout adds it): one
channel receives for every group the process's sockets joined, and a message is given only to the
sockets of the group it was sent to, never to all of them.

The layer forgets a group membership after its group_expiry (channels-redis: a day); the hub
renews its memberships every REJOIN_SECONDS so a process's sockets keep receiving."""

import asyncio
import logging
from collections import defaultdict

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

REJOIN_SECONDS = 3600  # well under channels-redis' group_expiry (86,400 s)
RETRY_SECONDS = 1  # after a failed receive (Redis unreachable): try again, without spinning

_hubs = {}  # event loop -> its Hub (a process has one loop; tests run one per scenario)


def hub_loops():
    """The event loops that have sockets listening (a server process: one)."""
    return list(_hubs)


def hub():
    """The running event loop's hub, made on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub(get_channel_layer())
    return _hubs[loop]


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.members = defaultdict(set)  # group -> the sockets (consumers) in it
        self.tasks = []
        self.lock = asyncio.Lock()  # joins and leaves change the layer's groups one at a time

    async def join(self, consumer, groups):
        """Adds the socket to `groups`; the process joins a group with its first socket. Raises
        what the layer raises (Redis unreachable), having added the socket to nothing."""
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            new = [g for g in groups if not self.members.get(g)]
            for group in new:
                await self.layer.group_add(group, self.channel)
            for group in groups:
                self.members[group].add(consumer)
            if not self.tasks:
                self.tasks = [asyncio.create_task(self._receive_forever()), asyncio.create_task(self._rejoin_forever())]

    async def leave(self, consumer, groups):
        """Takes the socket out of `groups`; the process leaves a group with its last socket, and
        stops receiving when no socket is left."""
        async with self.lock:
            for group in groups:
                members = self.members.get(group)
                if members is None:
                    continue
                members.discard(consumer)
                if not members:
                    del self.members[group]
                    try:
                        await self.layer.group_discard(group, self.channel)
                    except Exception as error:  # the membership expires by itself
                        logger.warning("could not leave live group %s: %r", group, error)
            if not self.members:
                for task in self.tasks:
                    task.cancel()
                self.tasks = []
                loop = asyncio.get_running_loop()
                if _hubs.get(loop) is self:
                    del _hubs[loop]

    async def _receive_forever(self):
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis unreachable: the sockets stay open, events resume
                logger.warning("live updates paused: receiving from the channel layer failed: %r", error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.deliver(message)

    def deliver(self, message):
        """Gives the message to each socket of its group (each sends it in a task of its own, so
        one slow client does not hold up the others)."""
        group = message.get("group")
        if group is None:
            logger.warning("live message without a group dropped: %s", message.get("type"))
            return
        for consumer in list(self.members.get(group, ())):
            consumer.receive_from_group(message)

    async def _rejoin_forever(self):
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            async with self.lock:
                try:
                    for group in list(self.members):
                        await self.layer.group_add(group, self.channel)
                except Exception as error:  # tried again in an hour, well within the expiry
                    logger.warning("could not renew live group memberships: %r", error)
