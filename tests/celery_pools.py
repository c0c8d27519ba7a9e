"""Celery's broker connections in the test process, dropped when a test needs it."""

import kombu.pools
from celery import current_app


def close_broker_connections():
    """Close Celery's broker connections and producers in this process; the next publish
    connects anew. Two uses:

    - after the broker configuration changed (a test pointing Celery at a private redis-server);
    - before forking a live server (ChannelsLiveServerTestCase forks with multiprocessing): after a
      fork, kombu closes the child's copies of the parent's pooled channels, and a channel whose
      BRPOP (a control command's reply queue) the parent left waiting is read for an answer the
      parent will take, so the child — and the test run with it — hung for good. Closed here,
      in the parent, the BRPOP's own timeout ends the read within a second."""
    # kombu keeps the pools in registries keyed by the broker's address: close and forget them
    # there too, or the app is handed the same closed pool back ("Acquire on closed pool").
    kombu.pools.reset()
    current_app._pool = None
    current_app.amqp._producer_pool = None


def beat_only_broker():
    """A broker address for a real `celery beat` a test starts: another Redis database of the same
    server, which no worker reads. What beat sends there (the retention task, the rule and n8n
    passes…) can then never be run by a worker another test starts on this test database, and
    is flushed with `flush_beat_only_broker()`."""
    from urllib.parse import urlsplit, urlunsplit

    from django.conf import settings

    parts = urlsplit(settings.CELERY_BROKER_URL)
    db = int(parts.path.lstrip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def flush_beat_only_broker():
    import redis

    redis.Redis.from_url(beat_only_broker()).flushdb()
