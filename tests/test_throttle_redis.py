"""The throttle's budget in Redis costs one round trip per request (one Lua script; DRF's own
throttle read and wrote the whole pickled history: two round trips, up to the rate's number of
timestamps each way). The limits themselves are tested in test_api_throttling.py."""

import pickle
import threading

import pytest
import redis
from django.conf import settings

from monitoring.api.throttling import ServiceTokenThrottle
from monitoring.models import ServiceToken

URL = "/api/v1/logs/"


def budget_key(team):
    token = ServiceToken.objects.get(team=team, name="ci")
    return f":1:throttle_service_token_{token.pk}"


def commands_on(key, action):
    """The Redis commands that name `key` while `action` runs (seen through MONITOR)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    db = client.connection_pool.connection_kwargs.get("db", 0)  # MONITOR sees every database
    seen, ready, marker = [], threading.Event(), f"end-of-{key}"

    def watch():
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if marker in command["command"]:
                    return
                # Commands a script runs are listed too (client_type "lua"): not round trips.
                if command["db"] == db and command.get("client_type") != "lua" and key in command["command"]:
                    seen.append(command["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    client.ping()  # MONITOR is active once its reply came: give it a round trip
    action()
    client.echo(marker)
    watcher.join(5)
    return seen


@pytest.mark.parametrize("requests", [1, 3])
def test_one_redis_command_per_throttle_check(api, team, requests):
    key = budget_key(team)
    seen = commands_on(key, lambda: [api.get(URL) for _ in range(requests)])
    assert len(seen) == requests, seen
    assert all(command.startswith(("EVALSHA", "EVAL", "SCRIPT")) for command in seen), seen


def test_the_budget_is_a_sorted_set_that_expires_with_the_window(api, team):
    api.get(URL)
    api.get(URL)
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = budget_key(team)
    assert client.type(key) == b"zset" and client.zcard(key) == 2
    assert 0 < client.ttl(key) <= 60  # the 1200/min default window


def test_a_budget_in_drfs_former_format_is_replaced(api, team, monkeypatch):
    """A budget written by the throttle before this change (a pickled list of times) does not
    break the first requests after an upgrade."""
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", {"service_token": "2/min", "user": "2/min"})
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(budget_key(team), pickle.dumps([1.0, 2.0, 3.0]))
    assert [api.get(URL).status_code for _ in range(3)] == [200, 200, 429]
