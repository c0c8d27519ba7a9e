"""Rate limits (monitoring/api/throttling.py): one budget per service token and one per signed-in
user, shared by every endpoint of both APIs, kept in the real Redis cache so that every worker
process counts against the same budget. Over the limit: 429 with Retry-After, and nothing is
written."""

import pytest
import redis
from django.conf import settings

from monitoring.api.throttling import ServiceTokenThrottle, UserThrottle
from monitoring.models import ExecutionLog, ServiceToken

URL = "/api/workflows/monitoring"
TOKEN_LIMIT, USER_LIMIT = 3, 2
LOG = {"workflow_id": "wf", "execution_id": "ex", "log_level": "info", "message": "m"}


class Clock:
    """The throttles' clock, frozen until a test moves it."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    # DRF copies DEFAULT_THROTTLE_RATES onto the class when it is defined, so settings overrides
    # would not reach it: patch the classes.
    rates = {"service_token": f"{TOKEN_LIMIT}/min", "user": f"{USER_LIMIT}/min"}
    clock = Clock()
    for cls in (ServiceTokenThrottle, UserThrottle):
        monkeypatch.setattr(cls, "THROTTLE_RATES", rates)
        monkeypatch.setattr(cls, "timer", staticmethod(clock))
    return clock


def use_up(client, n):
    """n requests spread over both APIs; all must pass."""
    paths = [f"{URL}?type=dashboard", "/api/v1/logs/", f"{URL}?type=alerts", "/api/v1/workflows/"]
    statuses = [client.get(paths[i % len(paths)]).status_code for i in range(n)]
    assert statuses == [200] * n


def assert_throttled(response, retry_after=60):
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) == retry_after


def test_a_token_over_its_limit_gets_429_with_retry_after_on_both_apis(clock, api):
    use_up(api, TOKEN_LIMIT)
    r = api.get(f"{URL}?type=logs")
    assert_throttled(r)
    assert r.json()["success"] is False and "throttled" in r.json()["error"].lower()
    r = api.get("/api/v1/errors/")
    assert_throttled(r)
    assert "throttled" in r.json()["detail"].lower()


def test_the_limit_is_per_token(clock, api, team, other_team, client_for):
    use_up(api, TOKEN_LIMIT)
    assert api.get(f"{URL}?type=dashboard").status_code == 429
    # Another token of the same team, and one of another team, each have their own budget.
    use_up(client_for(ServiceToken.issue(team, "second")[1]), TOKEN_LIMIT)
    use_up(client_for(ServiceToken.issue(other_team, "theirs")[1]), TOKEN_LIMIT)
    # …and using them gave the first token nothing back.
    assert api.get(f"{URL}?type=dashboard").status_code == 429


def test_the_limit_is_per_user_and_separate_from_tokens(clock, api, team, make_user, client_for):
    alice = client_for(make_user("alice", team, "viewer"))
    use_up(alice, USER_LIMIT)
    assert_throttled(alice.get(f"{URL}?type=dashboard"))
    use_up(client_for(make_user("bob", team, "viewer")), USER_LIMIT)
    # The team's token is not slowed down by its people.
    use_up(api, TOKEN_LIMIT)
    # Super admins have a budget too.
    root = client_for(make_user("root", superuser=True))
    use_up(root, USER_LIMIT)
    assert_throttled(root.get("/api/v1/alerts/"))


def test_the_window_slides(clock, api):
    use_up(api, TOKEN_LIMIT)
    clock.now += 20
    assert_throttled(api.get("/api/v1/logs/"), retry_after=40)
    clock.now += 41
    use_up(api, TOKEN_LIMIT)
    assert_throttled(api.get("/api/v1/logs/"))


def test_a_throttled_post_writes_nothing(clock, api):
    for i in range(TOKEN_LIMIT):
        assert api.post(f"{URL}?type=log", {**LOG, "message": f"m{i}"}, format="json").status_code == 201
    r = api.post(f"{URL}?type=log", {**LOG, "message": "one too many"}, format="json")
    assert_throttled(r)
    r = api.post("/api/v1/logs/", {**LOG, "message": "one too many"}, format="json")
    assert_throttled(r)
    assert ExecutionLog.objects.count() == TOKEN_LIMIT
    assert not ExecutionLog.objects.filter(message="one too many").exists()


def test_the_budget_lives_in_redis(clock, api, team):
    """Kept in Redis, not in one process' memory: with several workers a token still gets its
    limit once, not once per worker."""
    token = ServiceToken.objects.get(team=team, name="ci")
    api.get(f"{URL}?type=dashboard")
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"*throttle_service_token_{token.pk}")
    assert len(keys) == 1
