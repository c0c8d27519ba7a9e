"""Answers for requests that fail outside a view's own error handling: an unknown URL, a
suspicious request (e.g. too many query parameters), an unexpected exception, an unreachable
database. Under /api/ (and for /healthz) every one is JSON — {"success": false, "error": …, "request_id": …} —
never an HTML page or a traceback; pages get short HTML answers that need no database.

Django calls these (config/urls.py's handler400/403/404/500) from inside its exception handling,
so the exception being handled is sys.exc_info()'s."""

import sys

from django.core.exceptions import TooManyFieldsSent
from django.http import HttpResponse, JsonResponse
from django.views import defaults

from .outages import is_outage

# Seconds a client should wait before retrying when a backing service is down: long enough for a
# restart or failover, short enough that queued records are not held back for long.
RETRY_AFTER_SECONDS = 10


def is_api(request) -> bool:
    """Answered in JSON: the API, and /healthz (probes parse it, e.g. a 400 for a Host header not
    in ALLOWED_HOSTS)."""
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_body(request, message, **extra) -> dict:
    return {"success": False, "error": message, **extra, "request_id": getattr(request, "request_id", None)}


def json_error(request, status, message, **extra) -> JsonResponse:
    return JsonResponse(error_body(request, message, **extra), status=status)


OUTAGE_MESSAGE = "The database or another backing service is unreachable; retry shortly."


def service_unavailable(request):
    if is_api(request):
        response = json_error(request, 503, OUTAGE_MESSAGE)
    else:
        response = HttpResponse(
            "<!doctype html><title>Flowtower is unavailable</title><h1>Temporarily unavailable</h1>"
            f"<p>{OUTAGE_MESSAGE}</p>",
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    if is_outage(sys.exc_info()[1]):
        return service_unavailable(request)
    if is_api(request):
        return json_error(request, 500, "Internal server error; quote the request id when reporting it.")
    return defaults.server_error(request)


def bad_request(request, exception):
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, TooManyFieldsSent):
        return json_error(request, 400, "Too many query parameters or form fields.")
    return json_error(request, 400, "Bad request.")


def permission_denied(request, exception):
    if is_api(request):
        return json_error(request, 403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api(request):
        return json_error(request, 404, f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)
