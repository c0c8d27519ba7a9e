"""Error answers. The monitoring endpoint (/api/workflows/monitoring) wraps every failure as
{"success": false, "error": "<what was wrong>", "details": {...}}; /api/v1/ uses DRF's usual
shape for 4xx. Both turn a missing workflow into 404 and never leak a 500 for bad input; an
unreachable database or Redis is a 503 with Retry-After in the envelope shape on both; every
JSON error carries the request id."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from ..error_pages import OUTAGE_MESSAGE, RETRY_AFTER_SECONDS, error_body
from ..outages import is_outage
from ..queries import WorkflowNotFound
from .parsers import PayloadTooLarge


def _summary(detail):
    """One readable sentence naming what was wrong, from DRF's nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _summary(value)
            if key in ("non_field_errors", "detail"):
                return inner
            return f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _summary(detail[0])
    return str(detail)


def exception_handler(exc, context):
    request = context.get("request")
    if is_outage(exc):
        set_rollback()
        return Response(error_body(request, OUTAGE_MESSAGE), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, WorkflowNotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"Request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's handler500 (monitoring.error_pages) answers JSON 500
    request_id = getattr(request, "request_id", None)
    if not getattr(context.get("view"), "envelope", False):
        if isinstance(response.data, dict):
            response.data["request_id"] = request_id
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    message = _summary(detail)
    if isinstance(exc, exceptions.ValidationError):
        message = f"Invalid request: {message}"
    body = {"success": False, "error": message}
    if isinstance(detail, (dict, list)):
        body["details"] = detail
    body["request_id"] = request_id
    response.data = body
    return response


def envelope_error(message, status_code=status.HTTP_400_BAD_REQUEST, details=None):
    body = {"success": False, "error": message}
    if details is not None:
        body["details"] = details
    return Response(body, status=status_code)
