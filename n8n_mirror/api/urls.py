"""The n8n mirror's API under /api/v1/ (included by config/urls.py before monitoring's /api/)."""

from django.urls import re_path

from .hook import ExecutionsFinishedHook

urlpatterns = [
    # The external hook's URL (FLOWTOWER_URL), with or without a trailing slash.
    re_path(r"^integrations/n8n/(?P<instance_id>[0-9]{1,18})/executions-finished/?$",
            ExecutionsFinishedHook.as_view(), name="n8n-executions-finished"),
]
