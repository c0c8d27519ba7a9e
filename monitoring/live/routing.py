from django.urls import path

from .consumers import MonitoringConsumer, WorkflowConsumer

websocket_urlpatterns = [
    path("ws/monitoring/", MonitoringConsumer.as_asgi()),
    path("ws/workflows/<int:workflow_id>/", WorkflowConsumer.as_asgi()),
]
