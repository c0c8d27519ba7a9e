"""n8n sync metrics.

- flowtower_n8n_sync_runs_total{team, instance, outcome}: sync passes, counted by the process that
  ran the pass (n8n_mirror.health records every pass's outcome).
- flowtower_n8n_sync_lag_seconds{team, instance}: seconds since the instance's last good pass (since
  it was added, before the first one), and flowtower_n8n_instance_failing{team, instance} (1 while
  its passes fail): read from PostgreSQL at scrape time for enabled instances, since the instance
  row is the truth whichever worker synced it. (The n8n page's "lag", the newest mirrored
  execution's age, grows while n8n simply runs nothing, so it would not tell a stalled mirror.)"""

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

SYNC_RUNS = Counter(
    "flowtower_n8n_sync_runs_total", "n8n sync passes, by team, instance and outcome.",
    ["team", "instance", "outcome"],
)


def sync_run(instance, outcome):
    labels = (instance.team.slug, instance.name, outcome)
    transaction.on_commit(lambda: SYNC_RUNS.labels(*labels).inc(), robust=True)


class N8nCollector:
    def collect(self):
        from .models import N8nInstance

        lag = GaugeMetricFamily("flowtower_n8n_sync_lag_seconds",
                                "Seconds since the n8n instance's last good sync pass, read at scrape time.",
                                labels=["team", "instance"])
        failing = GaugeMetricFamily("flowtower_n8n_instance_failing",
                                    "1 while the n8n instance's sync passes fail, read at scrape time.",
                                    labels=["team", "instance"])
        now = timezone.now()
        for slug, name, last_success_at, created_at, failing_since in (
                N8nInstance.objects.filter(enabled=True).order_by("team__slug", "name")
                .values_list("team__slug", "name", "last_success_at", "created_at", "failing_since")):
            since = last_success_at or created_at
            lag.add_metric([slug, name], max(0.0, (now - since).total_seconds()))
            failing.add_metric([slug, name], 1 if failing_since else 0)
        yield lag
        yield failing


def register():
    from monitoring.metrics.registry import register_scrape_collector

    register_scrape_collector("n8n", N8nCollector())
