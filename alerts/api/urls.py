"""The alerting API under /api/v1/ (included by config/urls.py before monitoring's /api/ routes).
A SimpleRouter: no API root view of its own, so monitoring's /api/v1/ root stays as it is."""

from django.urls import include, re_path
from rest_framework.routers import SimpleRouter

from . import views
from .alertmanager import AlertmanagerWebhook

router = SimpleRouter(trailing_slash=True)
router.register("alert-rules", views.AlertRuleViewSet, basename="alert-rule")
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("routes", views.RouteViewSet, basename="route")
router.register("silences", views.SilenceViewSet, basename="silence")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")

urlpatterns = [
    # Alertmanager's webhook_configs url, with or without a trailing slash.
    re_path(r"^integrations/alertmanager/?$", AlertmanagerWebhook.as_view(), name="alertmanager-webhook"),
    re_path(r"", include(router.urls)),
]
