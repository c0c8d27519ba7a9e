"""GET /metrics: django-prometheus' and Flowtower's metrics, behind monitoring.metrics.access."""

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import access
from .registry import export_registry


@require_GET
def metrics(request):
    refusal = access.denied(request.META.get("REMOTE_ADDR", ""), request.headers.get("Authorization", ""))
    if refusal is not None:
        response = JsonResponse({"detail": refusal.detail}, status=refusal.status)
        if refusal.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    else:
        response = HttpResponse(generate_latest(export_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
