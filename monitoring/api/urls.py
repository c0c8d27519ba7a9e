from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import v1
from .error_groups import ErrorGroupViewSet
from .monitoring_endpoint import MonitoringEndpoint

router = DefaultRouter(trailing_slash=True)
router.register("workflows", v1.WorkflowViewSet, basename="workflow")
router.register("executions", v1.ExecutionViewSet, basename="execution")
router.register("logs", v1.LogViewSet, basename="log")
router.register("errors", v1.ErrorViewSet, basename="error")
router.register("performance", v1.PerformanceViewSet, basename="performance")
router.register("alerts", v1.AlertViewSet, basename="alert")
router.register("error-groups", ErrorGroupViewSet, basename="error-group")

urlpatterns = [
    # The monitoring endpoint, with or without a trailing slash.
    re_path(r"^workflows/monitoring/?$", MonitoringEndpoint.as_view(), name="monitoring"),
    path("v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("v1/", include(router.urls)),
]
