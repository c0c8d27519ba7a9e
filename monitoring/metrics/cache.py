"""Django's own Redis cache backend, counting gets, hits and misses in django-prometheus' counters
(django_cache_get_total, django_cache_get_hits_total, …, backend="redis").

django-prometheus' own Redis wrappers import django-redis, which Flowtower does not use; this keeps
the backend, its OPTIONS (socket timeouts) and its behaviour exactly as before."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

_MISSING = object()


class RedisCache(DjangoRedisCache):
    def get(self, key, default=None, version=None):
        django_cache_get_total.labels(backend="redis").inc()
        try:
            # A sentinel default tells a miss from a stored None or falsy value.
            value = super().get(key, _MISSING, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        if value is _MISSING:
            django_cache_misses_total.labels(backend="redis").inc()
            return default
        django_cache_hits_total.labels(backend="redis").inc()
        return value
