"""Telling an outage of PostgreSQL or Redis from a bug, in one place."""

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Errors that mean "a backing service is unreachable or overloaded; retrying later will work":
# PostgreSQL down, restarting, out of connections or the connection pool exhausted (Django wraps
# psycopg's errors, the pool's PoolTimeout included, in OperationalError), and Redis down.
OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

# What a cache backed by Redis raises when Redis is down or restarting (still loading, read-only).
CACHE_ERRORS = (RedisError, OSError)


def is_outage(exc) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)
