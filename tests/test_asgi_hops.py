"""Under ASGI (Daphne) a request's middleware chain and view run in one thread: one hop from the
event loop into it and the view's own hop (monitoring/sync_chain.py). A mixed chain made about a
dozen thread hand-offs per request (each async-mode MiddlewareMixin ran process_request and
process_response through sync_to_async), a measurable share of each API call's CPU."""

import json

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.test import AsyncClient


@pytest.fixture
def hops(monkeypatch):
    """Every sync_to_async made while the test runs."""
    made = []
    original = SyncToAsync.__init__

    def counting(self, func, *args, **kwargs):
        made.append(getattr(func, "__qualname__", repr(func)))
        original(self, func, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__init__", counting)
    return made


@pytest.mark.django_db(transaction=True)
def test_a_posted_log_makes_no_hop_per_middleware(token, hops):
    client = AsyncClient()
    body = {"workflow_id": "wf", "execution_id": "ex", "log_level": "info", "message": "m"}
    post, auth = async_to_sync(client.post), {"Authorization": f"Bearer {token}"}
    warm = post("/api/workflows/monitoring?type=log", json.dumps(body), content_type="application/json", headers=auth)
    assert warm.status_code == 201, warm.content[:300]
    hops.clear()
    response = post("/api/workflows/monitoring?type=log", json.dumps(body), content_type="application/json", headers=auth)
    assert response.status_code == 201, response.content[:300]
    assert not [h for h in hops if "process_request" in h or "process_response" in h], hops
    # What Django's ASGI handler itself makes per request: request_started's receivers, the view,
    # rendering and closing the response (the chain's own hop is made once, at start-up).
    assert len(hops) <= 4, hops


@pytest.mark.django_db(transaction=True)
def test_the_served_application_runs_a_post_in_one_thread_without_a_hop(token, hops):
    """config.asgi's HTTP path (config/wsgi_bridge.py): the whole request in one pool thread,
    no sync_to_async at all; the log is stored and the answer is the API's."""
    from channels.testing import HttpCommunicator

    from config.asgi import application
    from monitoring.models import ExecutionLog

    hops.clear()  # importing config.asgi makes Channels' own (its auth helpers), once
    body = {"workflow_id": "wf", "execution_id": "ex", "log_level": "info", "message": "bridged"}
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
               (b"host", b"testserver")]
    communicator = HttpCommunicator(application, "POST", "/api/workflows/monitoring?type=log",
                                    body=json.dumps(body).encode(), headers=headers)
    response = async_to_sync(communicator.get_response)()
    assert response["status"] == 201, response["body"][:300]
    assert json.loads(response["body"])["data"]["message"] == "bridged"
    assert ExecutionLog.objects.filter(message="bridged").count() == 1
    assert not hops, hops
