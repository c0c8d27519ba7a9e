"""Query-parameter parsing with errors that name the parameter and what was expected."""

import uuid
from datetime import timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

from ..queries import PERIODS

TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
# PostgreSQL's timestamptz takes UTC offsets up to ±15:59; Python's datetime up to ±23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


def _fail(name, message):
    raise ValidationError({name: [message]})


def choice(params, name, choices, required=False, default=None):
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            _fail(name, f"is required; one of: {', '.join(choices)}")
        return default
    if raw not in choices:
        _fail(name, f"'{raw[:50]}' is not one of: {', '.join(choices)}")
    return raw


def choice_list(params, name, choices):
    """A comma-separated list, each item one of `choices`."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    items = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in items if x not in choices]
    if unknown:
        _fail(name, f"unknown value(s) {', '.join(repr(u[:50]) for u in unknown)}; expected: {', '.join(choices)}")
    return items


def boolean(params, name):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    _fail(name, f"must be true or false, got '{raw[:50]}'")


def timestamp(params, name):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw.replace(" ", "+") if raw.count(" ") == 1 and "T" in raw else raw)
    except ValueError:
        value = None
    if value is None:
        _fail(name, f"must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z, got '{raw[:50]}'")
    if timezone.is_naive(value):
        return timezone.make_aware(value, dt_timezone.utc)
    if abs(value.utcoffset()) > MAX_UTC_OFFSET:
        # No real time zone is that far from UTC and PostgreSQL cannot hold it: name the mistake.
        _fail(name, f"has a UTC offset beyond ±15:59, got '{raw[:50]}'")
    try:
        return value.astimezone(dt_timezone.utc)
    except OverflowError:
        _fail(name, f"is out of range, got '{raw[:50]}'")


def text(params, name, max_length=255):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if len(raw) > max_length:
        _fail(name, f"must be at most {max_length} characters")
    if "\x00" in raw:
        _fail(name, "must not contain NUL characters")
    return raw


def uuid_param(params, name):
    raw = params.get(name)
    if raw in (None, ""):
        _fail(name, "is required")
    try:
        return uuid.UUID(raw)
    except ValueError:
        _fail(name, f"must be a UUID, got '{raw[:50]}'")


def time_range(params):
    """start_time / end_time, or a period (1h, 24h, 7d, 30d)."""
    start, end = timestamp(params, "start_time"), timestamp(params, "end_time")
    if start and end and start > end:
        _fail("start_time", "must not be after end_time")
    period = choice(params, "period", list(PERIODS))
    return start, end, period
