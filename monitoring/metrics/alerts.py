"""Open and unacknowledged alerts per team and severity, read from PostgreSQL at scrape time: the
database is the truth (alerts are opened, acknowledged and resolved by every process, and by
retention), so no process keeps a count that could drift. Every team and severity is answered,
0 included, so a rule on them sees a series from the start."""

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily


class AlertsCollector:
    def collect(self):
        from monitoring.models import Alert, AlertSeverity, Team

        open_alerts = GaugeMetricFamily("flowtower_alerts_open", "Open (unresolved) alerts, read at scrape time.",
                                        labels=["team", "severity"])
        unacknowledged = GaugeMetricFamily(
            "flowtower_alerts_unacknowledged", "Open alerts nobody has acknowledged, read at scrape time.",
            labels=["team", "severity"])
        counts = {
            (row["team__slug"], row["severity"]): (row["open"], row["unacknowledged"])
            for row in Alert.objects.filter(resolved=False).values("team__slug", "severity")
            .annotate(open=Count("pk"), unacknowledged=Count("pk", filter=Q(acknowledged=False)))
        }
        for slug in Team.objects.order_by("slug").values_list("slug", flat=True):
            for severity in AlertSeverity.values:
                n_open, n_unacknowledged = counts.get((slug, severity), (0, 0))
                open_alerts.add_metric([slug, severity], n_open)
                unacknowledged.add_metric([slug, severity], n_unacknowledged)
        yield open_alerts
        yield unacknowledged
