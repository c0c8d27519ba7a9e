from datetime import timezone as dt_timezone

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


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

    def decode_cursor(self, request):
        """A cursor is opaque to clients, but it is only base64 text: one that does not decode, or
        whose position is not a timestamp PostgreSQL can compare with, is a 400 naming the cursor.
        (DRF answers 404 for the first and passes the second to the database: a 500.)"""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid_cursor()
        if cursor is None or cursor.position is None:
            return cursor
        position = _utc_timestamp(cursor.position)
        if position is None:
            raise self._invalid_cursor()
        # In UTC and in the form DRF writes positions (str of an aware datetime), so a cursor
        # this server made comes back unchanged.
        return cursor._replace(position=str(position))

    def _invalid_cursor(self):
        return ValidationError({self.cursor_query_param: [
            "Invalid cursor: use the next or previous link of an earlier page unchanged."]})


def _utc_timestamp(text):
    """`text` as an aware UTC datetime, or None when it is not a timestamp (PostgreSQL takes UTC
    offsets up to ±15:59 only, so any other offset is converted to UTC first)."""
    try:
        value = parse_datetime(text)
    except ValueError:  # well-formed but impossible, e.g. February 30
        return None
    if value is None:
        return None
    if timezone.is_naive(value):
        return timezone.make_aware(value, dt_timezone.utc)
    try:
        return value.astimezone(dt_timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None


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
