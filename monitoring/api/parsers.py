"""JSON parsing that fails with a 4xx for every bad body: too large (413), not JSON, NaN or
Infinity, numbers too large for a double, lone surrogates, or nested so deep that
Python's parser gives up (400)."""

import json
import math
import re

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


# A \uD800-\uDFFF escape: the only way a lone surrogate (not storable as UTF-8) gets into a string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _check_surrogates(raw, data):
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise exceptions.ParseError("JSON parse error - a string holds a lone UTF-16 surrogate (\\uD800-\\uDFFF).")


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
            data = json.loads(
                raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_parse_float
            )
        except UnicodeDecodeError:
            raise exceptions.ParseError("JSON parse error - body is not UTF-8.")
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.")
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}")
        _check_surrogates(raw, data)
        return data
