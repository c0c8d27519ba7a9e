"""Rate limits per service token and per signed-in user; DRF answers 429 with Retry-After.

The counters live in the cache (Redis in production). Redis is a cache here, not the system of
record: while it is unreachable, limits are counted per process in local memory (so each web
process enforces the rate on its own share of the traffic) and a warning is logged; Redis is
tried again after REDIS_RETRY_SECONDS, and counting returns to it by itself."""

import logging
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import receiver
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


class _ResilientThrottle(SimpleRateThrottle):
    def allow_request(self, request, view):
        self.cache = _counter_cache()
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            _shared_cache_failed(exc)
            self.cache = _local_counters
            return super().allow_request(request, view)


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
