"""The "Monitoring" section of Django admin (/admin/observability/; /admin/monitoring/ is the
monitoring app's own index): super admins (only) see the Grafana dashboards of the
observability stack embedded, and links to Prometheus and Alertmanager.

GRAFANA_URL, PROMETHEUS_URL and ALERTMANAGER_URL are the addresses super admins' browsers reach
those tools at (settings); unset, the page says how to set them. The page may frame GRAFANA_URL's
origin and nothing else (its Content-Security-Policy), and may itself be framed by nobody.
See docs/health-and-logs.md for serving Grafana so that embedding it is safe."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

# The dashboards provisioned from deploy/grafana (uid, title): see docs/dashboards.md.
DASHBOARDS = [
    ("flowtower-workflows", "Workflows"),
    ("flowtower-api", "API performance"),
    ("flowtower-system", "System"),
    ("flowtower-logs", "Logs"),
]


def origin(url) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def monitoring_page(request):
    # Grafana, Prometheus and Alertmanager show every team's data and the hosts': super admins only
    # (team admins are staff too, see monitoring.admin).
    if not request.user.is_superuser:
        raise PermissionDenied
    grafana = settings.GRAFANA_URL
    context = {
        **admin.site.each_context(request),
        "title": "Monitoring",
        "grafana_url": grafana,
        "dashboards": [{"uid": uid, "title": title, "url": f"{grafana}/d/{uid}?kiosk"} for uid, title in DASHBOARDS]
        if grafana else [],
        "prometheus_url": settings.PROMETHEUS_URL,
        "alertmanager_url": settings.ALERTMANAGER_URL,
    }
    response = TemplateResponse(request, "admin/monitoring.html", context)
    frame_src = f"frame-src {origin(grafana)}" if grafana else "frame-src 'none'"
    response["Content-Security-Policy"] = f"{frame_src}; frame-ancestors 'none'"
    return response


# Staff only (others go to the admin sign-in), then super admins only (others get a 403).
monitoring_view = admin.site.admin_view(monitoring_page)
