"""Flowtower's Prometheus metrics (docs/metrics.md).

Small modules, one concept each:
- registry: what an export contains (this process's or every process's counters, plus the gauges
  read at scrape time) and where apps register their scrape-time collectors;
- access: who may read /metrics (a bearer token and/or allowed networks);
- labels: the capped `workflow` label;
- executions, ingestion, websockets: counters and gauges the core updates as it writes;
- alerts: open / unacknowledged alerts, read from PostgreSQL at scrape time;
- tasks: Celery task runs and durations (signals) and queue length (Redis, at scrape time);
- views and server: the web /metrics view and the Celery worker's own metrics port;
- cache: Django's Redis cache, counting gets, hits and misses.

Nothing here imports alerts/ or n8n_mirror/: they define their own metrics (alerts/metrics.py,
n8n_mirror/metrics.py) and register their collectors from their AppConfig.ready."""
