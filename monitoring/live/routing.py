from django.urls import path, re_path

from .consumers import MonitoringConsumer, UnknownPathConsumer, WorkflowConsumer

websocket_urlpatterns = [
    path("ws/monitoring/", MonitoringConsumer.as_asgi()),
    # The /api/v1/workflows/ id (digits) or the workflow id services post (any other text).
    re_path(r"^ws/workflows/(?P<workflow_id>.+)/$", WorkflowConsumer.as_asgi()),
    # Anything else is refused with close code 4404, not an error from the router.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
