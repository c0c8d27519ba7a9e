"""What one export of metrics contains.

Counters, histograms and the websocket gauge live in each process. With PROMETHEUS_MULTIPROC_DIR
set, prometheus_client keeps them in files in that directory and an export adds up every process
of the container (several Daphne processes, Celery's prefork children); without it, an export is
this process's own registry.

Gauges whose truth is in PostgreSQL or Redis (open alerts, n8n sync lag, queue length) are not
kept by any process: collectors registered here read them at scrape time, so every web process
answers the same value (dashboards use max()). Apps register theirs from AppConfig.ready, which
keeps monitoring free of imports of alerts/ and n8n_mirror/."""

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

logger = logging.getLogger(__name__)

_scrape_collectors = {}  # name -> (collector with collect(), whether it reads PostgreSQL); web /metrics only
DATABASE_WAIT_SECONDS = 2  # how long an export waits for a pooled connection before leaving those out


def register_scrape_collector(name, collector, database=True):
    """Add a scrape-time collector (registering a name again replaces it: ready() may run twice).
    `database`: it reads PostgreSQL, so it is left out of an export while the database is out of reach."""
    _scrape_collectors[name] = (collector, database)


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Forward:
    """This process's default registry inside another registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


def _database_reachable():
    """Whether this process's pool hands out a connection within DATABASE_WAIT_SECONDS. Django's own
    checkout waits DB_POOL_TIMEOUT (10 s) per query, longer than Prometheus waits for a scrape:
    with PostgreSQL down, /metrics must still answer, in about 2 s, without the database's gauges."""
    from django.db import connection

    pool = getattr(connection, "pool", None)
    if pool is None:  # SQLite, or no pool: connect_timeout bounds the wait already
        return True
    try:
        pool.open()
        with pool.connection(timeout=DATABASE_WAIT_SECONDS):
            return True
    except Exception as error:
        logger.warning("metrics: the database is out of reach, its gauges are left out: %r", error)
        return False


class _Guarded:
    """A scrape-time collector whose failure (PostgreSQL or Redis down) costs its own metrics only,
    not the whole export: the request metrics are what tells that story. `export` is shared by the
    collectors of one export, so the database is asked once."""

    def __init__(self, name, collector, database, export):
        self.name, self.collector, self.database, self.export = name, collector, database, export

    def collect(self):
        if self.database:
            if "database" not in self.export:
                self.export["database"] = _database_reachable()
            if not self.export["database"]:
                return []
        try:
            families = list(self.collector.collect())
        except Exception as error:
            logger.warning("metrics collector %s failed: %r", self.name, error)
            return []
        return families


def export_registry(scrape=True):
    """A registry for one export: every process's metrics (or this process's), plus the
    scrape-time collectors when `scrape` (the web /metrics; the worker's port has none)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    if scrape:
        export = {}
        for name, (collector, database) in _scrape_collectors.items():
            registry.register(_Guarded(name, collector, database, export))
    return registry
