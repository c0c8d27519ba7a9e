"""Celery's broker connections in the test process, dropped when a test needs it."""

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
    if current_app._pool is not None:
        current_app._pool.force_close_all()
    current_app._pool = None
    current_app.amqp._producer_pool = None
