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
