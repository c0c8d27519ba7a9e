"""The alerting API under /api/v1/ (included by config/urls.py before monitoring's /api/ routes)."""

from django.urls import re_path

from .alertmanager import AlertmanagerWebhook

urlpatterns = [
    # Alertmanager's webhook_configs url, with or without a trailing slash.
    re_path(r"^integrations/alertmanager/?$", AlertmanagerWebhook.as_view(), name="alertmanager-webhook"),
]
