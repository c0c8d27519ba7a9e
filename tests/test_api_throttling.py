"""Rate limits per token and per user: 429 with Retry-After, one token's limit not another's."""

import pytest

from monitoring.api.throttling import ServiceTokenThrottle, UserThrottle
from monitoring.models import ServiceToken

URL = "/api/workflows/monitoring?type=dashboard"


@pytest.fixture
def tiny_limits(monkeypatch):
    # DRF reads the rates into the class once; patch them there.
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", {"service_token": "3/min", "user": "2/min"})
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"service_token": "3/min", "user": "2/min"})


def test_token_over_its_limit_gets_429_with_retry_after(tiny_limits, api, team, client_for):
    assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    r = api.get(URL)
    assert r.status_code == 429
    assert 0 < int(r["Retry-After"]) <= 60
    assert r.json()["success"] is False
    # Another token of the same team has its own budget.
    other = client_for(ServiceToken.issue(team, "other")[1])
    assert other.get(URL).status_code == 200


def test_user_over_their_limit_gets_429(tiny_limits, team, make_user, client_for):
    c = client_for(make_user("u", team, "viewer"))
    assert [c.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    other = client_for(make_user("v", team, "viewer"))
    assert other.get(URL).status_code == 200
