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

_scrape_collectors = {}  # name -> collector with collect(); read by the web /metrics only


def register_scrape_collector(name, collector):
    """Add a scrape-time collector (registering a name again replaces it: ready() may run twice)."""
    _scrape_collectors[name] = collector


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Forward:
    """This process's default registry inside another registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class _Guarded:
    """A scrape-time collector whose failure (PostgreSQL or Redis down) costs its own metrics only,
    not the whole export: the request metrics are what tells that story."""

    def __init__(self, name, collector):
        self.name, self.collector = name, collector

    def collect(self):
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
        for name, collector in _scrape_collectors.items():
            registry.register(_Guarded(name, collector))
    return registry
