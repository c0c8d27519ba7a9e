"""GET /healthz for compose health checks, load balancers and the blackbox exporter."""

import logging

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import run_checks

logger = logging.getLogger(__name__)

HTTP_STATUS = {"ok": 200, "degraded": 200, "down": 503}


@never_cache
@require_http_methods(["GET", "HEAD"])
def healthz(request):
    """{"status": "ok"|"degraded"|"down", "checks": {...}}: 503 when this process cannot serve
    (database, Redis or channel layer failing), 200 otherwise. No authentication, and no team data
    in the answer: counts only. Never an HTML page, whatever fails."""
    try:
        status, checks = run_checks()
    except Exception:  # noqa: BLE001 - a probe must get JSON, even for a bug here
        logger.exception("health checks failed")
        status, checks = "down", {}
    return JsonResponse({"status": status, "checks": checks}, status=HTTP_STATUS[status])
