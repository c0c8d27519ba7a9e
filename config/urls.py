from django.contrib import admin
from django.urls import include, path

from monitoring.admin_monitoring import monitoring_view
from monitoring.health.views import healthz
from monitoring.metrics.views import metrics

admin.site.site_header = "Flowtower"
admin.site.site_title = "Flowtower"
admin.site.index_title = "Monitoring administration"
admin.site.index_template = "admin/flowtower_index.html"  # + the Monitoring section for super admins

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # no auth, counts only: probes and compose health checks
    path("metrics", metrics, name="metrics"),  # Prometheus; token and/or networks (docs/metrics.md)
    path("admin/observability/", monitoring_view, name="admin-monitoring"),  # super admins; /admin/monitoring/ is the app
    path("admin/", admin.site.urls),
    path("api/v1/", include("alerts.api.urls")),  # the alerting API; first, so monitoring's v1 router sees none of it
    path("api/v1/", include("n8n_mirror.api.urls")),  # n8n's external hook; before monitoring's /api/
    path("api/", include("monitoring.api.urls")),
    path("", include("alerts.web.urls")),  # the alerting pages, incl. /alerts/<uuid>/; before monitoring's pages
    path("", include("n8n_mirror.web.urls")),  # the n8n page; before monitoring's pages
    path("", include("monitoring.web.urls")),
]

# Errors outside a view's own handling: JSON under /api/, short HTML pages elsewhere.
handler400 = "monitoring.error_pages.bad_request"
handler403 = "monitoring.error_pages.permission_denied"
handler404 = "monitoring.error_pages.page_not_found"
handler500 = "monitoring.error_pages.server_error"
