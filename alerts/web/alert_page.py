"""The alert's own page, /alerts/<uuid>/: the link every notification carries, so it must work on
a phone at 3 a.m. What happened, how often, whether it is silenced or inhibited, what was sent
where, and the buttons to acknowledge, resolve or silence it. Acknowledge and resolve post to
monitoring's own alert action view (monitoring.services.update_alert)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from monitoring.access import RESPOND, principal_from_request
from monitoring.models import Alert

from .. import silences
from ..models import Delivery
from .common import can_manage, require_manage, visible_or_404

DELIVERIES_SHOWN = 100
# "Silence this alert for…": the quick choices, in minutes; any other length is the custom form.
SILENCE_CHOICES = [(60, "1 h"), (240, "4 h"), (1440, "24 h")]
SILENCE_MAX_MINUTES = 60 * 24 * 90


def _alert_or_404(request, pk):
    return visible_or_404(request, Alert.objects.select_related("team", "workflow", "execution"), pk)


@login_required
def alert_page(request, pk):
    alert = _alert_or_404(request, pk)
    deliveries = list(Delivery.objects.filter(alert=alert).select_related("channel")[:DELIVERIES_SHOWN])
    return render(request, "alerting/alert.html", {
        "alert": alert,
        "labels": sorted((alert.labels or {}).items()),
        "deliveries": deliveries,
        "deliveries_pending": any(d.status in ("pending", "retrying") for d in deliveries),
        "can_respond": principal_from_request(request).can(RESPOND, alert.team_id),
        "can_manage": can_manage(request, alert.team_id),
        "silence_choices": SILENCE_CHOICES,
    })


def _minutes(request):
    """The silence's length from the quick buttons (minutes=) or the custom hours field."""
    try:
        if request.POST.get("hours"):
            return round(float(request.POST["hours"]) * 60)
        return int(request.POST.get("minutes", ""))
    except (ValueError, OverflowError):  # "abc", "nan", "inf"
        return None


@login_required
@require_POST
def silence_alert(request, pk):
    """Create a silence matching this alert from now for the chosen time (alerts.silences
    .silence_for decides the matchers), then back to the alert."""
    alert = _alert_or_404(request, pk)
    require_manage(request, alert.team_id)
    minutes = _minutes(request)
    page = reverse("alerting:alert", args=[alert.pk])
    if minutes is None or not 1 <= minutes <= SILENCE_MAX_MINUTES:
        messages.error(request, f"Choose how long to silence: 1 minute to {SILENCE_MAX_MINUTES // 1440} days.")
        return redirect(page)
    try:
        silence = silences.silence_for(alert, minutes, principal_from_request(request).display_name)
        silences.validate_silence(silence)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect(page)
    silence.save()
    messages.success(request, f"Silenced until {timezone.localtime(silence.ends_at):%Y-%m-%d %H:%M %Z}.")
    return redirect(page)
