"""Error answers. The monitoring endpoint (/api/workflows/monitoring) wraps every failure as
{"success": false, "error": "<what was wrong>", "details": {...}}; /api/v1/ uses DRF's usual
shape. Both turn a missing workflow into 404 and never leak a 500 for bad input."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
    if isinstance(exc, WorkflowNotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"Request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None or not getattr(context.get("view"), "envelope", False):
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    message = _summary(detail)
    if isinstance(exc, exceptions.ValidationError):
        message = f"Invalid request: {message}"
    body = {"success": False, "error": message}
    if isinstance(detail, (dict, list)):
        body["details"] = detail
    response.data = body
    return response


def envelope_error(message, status_code=status.HTTP_400_BAD_REQUEST, details=None):
    body = {"success": False, "error": message}
    if details is not None:
        body["details"] = details
    return Response(body, status=status_code)
