"""flowtower_websocket_connections: the live-update sockets open now, as /metrics reports them —
up when a socket is subscribed, down when it closes; refused sockets are never counted."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from monitoring.live.routing import websocket_urlpatterns
from monitoring.models import Role

TOKEN = "metrics-token-0123456789abcdef"

pytestmark = pytest.mark.django_db(transaction=True)
router = URLRouter(websocket_urlpatterns)


def open_sockets():
    try:
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        connection.close()
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name == "flowtower_websocket_connections":
            return family.samples[0].value
    raise AssertionError("flowtower_websocket_connections is missing")


async def socket(user):
    communicator = WebsocketCommunicator(router, "/ws/monitoring/")
    communicator.scope["user"] = user
    await communicator.connect()
    first = await communicator.receive_output(timeout=3)
    return communicator, first["type"] != "websocket.close"


def test_open_sockets_are_counted_until_they_close(settings, team, make_user):
    settings.FLOWTOWER_METRICS_TOKEN = TOKEN
    member = make_user("ann", team=team, role=Role.VIEWER)

    async def scenario():
        start = await asyncio.to_thread(open_sockets)
        first, subscribed = await socket(member)
        second, _ = await socket(member)
        assert subscribed
        assert await asyncio.to_thread(open_sockets) == start + 2
        refused, accepted = await socket(AnonymousUser())
        assert not accepted
        assert await asyncio.to_thread(open_sockets) == start + 2
        await first.disconnect()
        assert await asyncio.to_thread(open_sockets) == start + 1
        await second.disconnect()
        await refused.disconnect()
        assert await asyncio.to_thread(open_sockets) == start

    async_to_sync(scenario)()
