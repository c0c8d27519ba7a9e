"""JSON parsing that fails with a 4xx for every bad body: too large (413), not JSON, NaN or
Infinity, or nested so deep that Python's parser gives up (400)."""

import json

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        too_large = f"Request body is larger than {limit} bytes."
        if length > limit:
            raise PayloadTooLarge(too_large)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(too_large)
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError("JSON parse error - body is not UTF-8.")
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.")
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}")
