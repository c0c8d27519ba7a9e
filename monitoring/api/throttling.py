"""Rate limits per service token and per signed-in user; DRF answers 429 with Retry-After.

The counters live in the cache (Redis in production). Redis is a cache here, not the system of
record: while it is unreachable, limits are counted per process in local memory (so each web
process enforces the rate on its own share of the traffic) and a warning is logged; Redis is
tried again after REDIS_RETRY_SECONDS, and counting returns to it by itself.

In Redis a budget is a sorted set of request times, checked and updated by one Lua script: one
round trip per check. DRF's own throttle read the whole history list and wrote it back (two round
trips, and up to the rate's number of timestamps pickled both ways on every request). The window,
the limit and Retry-After are computed exactly as DRF computes them."""

import logging
import math
import secrets
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import NoScriptError
from rest_framework.throttling import SimpleRateThrottle

from ..models import ServiceToken
from ..outages import CACHE_ERRORS

logger = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5
_local_counters = LocMemCache("flowtower-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10000}})
_shared_cache_down_until = 0.0
_shared_cache = None


def _shared():
    # One cache client (and Redis connection pool) per process: under ASGI `caches["default"]` is
    # a new client per request, which opened a new Redis connection for every API call.
    global _shared_cache
    if _shared_cache is None:
        _shared_cache = caches.create_connection("default")
    return _shared_cache


@receiver(setting_changed)
def _forget_shared_cache(setting, **kwargs):
    global _shared_cache
    if setting == "CACHES":
        _shared_cache = None


def _counter_cache():
    """The shared cache, or the per-process fallback while the shared one is known to be down."""
    return _local_counters if time.monotonic() < _shared_cache_down_until else _shared()


def _shared_cache_failed(exc):
    global _shared_cache_down_until
    if time.monotonic() >= _shared_cache_down_until:
        logger.warning("cache unreachable (%s): rate limits counted per process for %d s", exc, REDIS_RETRY_SECONDS)
    _shared_cache_down_until = time.monotonic() + REDIS_RETRY_SECONDS


# KEYS[1]: the budget; ARGV: now, now - window, limit, window in whole seconds (the key's expiry),
# a unique member (times are passed as text: Lua numbers would round them). Drops the times that left the
# window (DRF drops t <= now - window), then admits and records the request if fewer than `limit`
# remain. Returns {admitted 0/1, requests in the window (this one included if admitted), oldest}.
# A key of another type (DRF's pickled list, before this script) is replaced.
SLIDING_WINDOW = """
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then redis.call('DEL', KEYS[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  count = count + 1
  admitted = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {admitted, count, oldest[2] or ARGV[1]}
"""
_script_sha = None


def _run_sliding_window(cache, key, now, duration, limit):
    """One EVALSHA (EVAL the first time in a Redis that has not seen the script)."""
    global _script_sha
    client = cache._cache.get_client(key, write=True)
    args = [repr(now), repr(now - duration), limit, max(1, math.ceil(duration)), f"{now!r}:{secrets.token_hex(4)}"]
    if _script_sha is not None:
        try:
            return client.evalsha(_script_sha, 1, key, *args)
        except NoScriptError:  # Redis restarted or was flushed
            pass
    _script_sha = client.script_load(SLIDING_WINDOW)
    return client.evalsha(_script_sha, 1, key, *args)


class _ResilientThrottle(SimpleRateThrottle):
    def allow_request(self, request, view):
        self.cache = _counter_cache()
        try:
            if isinstance(self.cache, RedisCache):
                return self._allow_in_redis(request, view)
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            _shared_cache_failed(exc)
            self.cache = _local_counters
            return super().allow_request(request, view)

    def _allow_in_redis(self, request, view):
        """SimpleRateThrottle.allow_request with the history kept in Redis. `history` is left as DRF's
        wait() reads it: its length and its oldest time at the end."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        admitted, count, oldest = _run_sliding_window(
            self.cache, self.cache.make_and_validate_key(self.key), self.now, self.duration, self.num_requests)
        self.history = [self.now] * (int(count) - 1) + [float(oldest)] if int(count) else []
        return bool(admitted)


class ServiceTokenThrottle(_ResilientThrottle):
    scope = "service_token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ServiceToken):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None


class UserThrottle(_ResilientThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ServiceToken) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
