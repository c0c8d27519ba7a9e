"""{{ minutes|saved_time }}: minutes saved as people read them ("12 h 30 min"), as monitoring.time_saved says."""

from django import template

from ..time_saved import humane

register = template.Library()


@register.filter
def saved_time(minutes):
    return humane(minutes)


@register.filter
def estimate(minutes):
    """An estimate without trailing zeros: 12.5, 10 (Decimal.normalize would write 1E+1)."""
    if minutes is None:
        return ""
    text = f"{minutes:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
