from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class LimitOffset(pagination.LimitOffsetPagination):
    """limit/offset with bounds: a negative or oversized value is a 400, not a silent clamp."""

    default_limit = 50
    max_offset = 100_000

    @property
    def max_limit(self):
        return settings.FLOWTOWER_MAX_LIMIT

    def get_limit(self, request):
        return parse_bounded_int(request.query_params, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return parse_bounded_int(request.query_params, self.offset_query_param, 0, 0, self.max_offset)


class LogCursor(pagination.CursorPagination):
    """Logs are read newest first and can be millions of rows: a cursor stays fast on any page."""

    ordering = ("-timestamp", "-id")
    page_size_query_param = "limit"

    @property
    def max_page_size(self):
        return settings.FLOWTOWER_MAX_LIMIT

    def get_page_size(self, request):
        return parse_bounded_int(request.query_params, "limit", 50, 1, self.max_page_size)


def parse_bounded_int(params, name, default, low, high):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({name: [f"must be an integer, got '{raw[:50]}'"]})
    if not low <= value <= high:
        raise ValidationError({name: [f"must be between {low} and {high}, got {value}"]})
    return value
