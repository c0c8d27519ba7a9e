from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime

register = template.Library()


@register.filter
def ms(value):
    """Milliseconds for people: 850 ms, 2.4 s, 3 min 5 s."""
    if value is None or value == "":
        return "–"
    value = int(value)
    if value < 1000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return f"{value // 60_000} min {value % 60_000 // 1000} s"


@register.filter
def pct(value):
    return "–" if value is None else f"{float(value):.1f} %"


@register.filter
def iso(value):
    """A datetime or the REST API's ISO string, shown in the server's time zone."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return "–"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
