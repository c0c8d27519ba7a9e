"""The Routes and Silences pages, and what the four alerting config pages (rules, channels,
routes, silences) share: a list every team member sees read-only, and new / edit / delete for the
team's admins. Another team's object is a 404; a form or a POST the role does not allow, a 403."""

import uuid
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from monitoring.access import principal_from_request
from monitoring.models import Alert, Workflow

from .. import silences
from ..models import AlertRule, Route, Silence
from .common import (add_validation_error, can_manage, managed_teams, require_manage, team_for_new,
                     visible, visible_or_404)
from .forms import RouteForm, SilenceForm


def list_page(request, template, objects, **context):
    """A config list: each object marked with whether this user may change it."""
    objects = list(objects)
    for obj in objects:
        obj.can_manage = can_manage(request, obj.team_id)
    return render(request, template, {"objects": objects, "can_create": managed_teams(request).exists(), **context})


def editable(request, queryset, pk):
    """The object to edit or delete: visible to the user (else 404) and theirs to manage (else 403)."""
    obj = visible_or_404(request, queryset, pk)
    require_manage(request, obj.team_id)
    return obj


def delete_page(request, queryset, pk, list_url):
    obj = editable(request, queryset, pk)
    name = str(obj)
    obj.delete()
    messages.success(request, f"Deleted “{name}”.")
    return redirect(list_url)


# ---- routes -----------------------------------------------------------------------------------

@login_required
def routes(request):
    objects = (visible(request, Route.objects.select_related("team", "channel", "escalation_channel"))
               .prefetch_related("rules").order_by("team__slug", "name"))
    return list_page(request, "alerting/routes.html", objects)


def _route_form(request, route, team, teams=()):
    form = RouteForm(request.POST or None, instance=route, team=team)
    if request.method == "POST" and form.is_valid():
        form.instance.team = team
        form.save()
        messages.success(request, f"Saved route “{form.instance.name}”.")
        return redirect("alerting:routes")
    return render(request, "alerting/form.html", {"form": form, "object": route, "team": team, "teams": teams,
                                                  "what": "route", "list_url": "alerting:routes"})


@login_required
def route_new(request):
    team, teams = team_for_new(request)
    return _route_form(request, Route(team=team), team, teams)


@login_required
def route_edit(request, pk):
    route = editable(request, Route.objects.select_related("team"), pk)
    return _route_form(request, route, route.team)


@login_required
@require_POST
def route_delete(request, pk):
    return delete_page(request, Route.objects.all(), pk, "alerting:routes")


# ---- silences ---------------------------------------------------------------------------------

def silence_state(silence, now):
    """active (muting now), upcoming (starts later, or between its weekly windows) or expired."""
    if silence.ends_at <= now or silence.ends_at <= silence.starts_at:
        return "expired"
    return "active" if silences.is_active(silence, now) else "upcoming"


@login_required
def silences_page(request):
    now = timezone.now()
    scoped = visible(request, Silence.objects.select_related("team"))
    # Expired: ended, or (expired before it began, as the API does it) ending where it starts.
    over = Q(ends_at__lte=now) | Q(ends_at__lte=F("starts_at"))
    current = list(scoped.exclude(over).order_by("starts_at"))
    expired = list(scoped.filter(over).order_by("-ends_at")[:50])
    for silence in current + expired:
        silence.state = silence_state(silence, now)
        silence.local_zone = _zone_or_utc(silence.time_zone)
        silence.window = SilenceForm.window_text(silence) if silence.weekdays else ""
    return list_page(request, "alerting/silences.html", current, expired=[_mark(request, s) for s in expired])


def _mark(request, obj):
    obj.can_manage = can_manage(request, obj.team_id)
    return obj


def _zone_or_utc(name):
    try:
        return silences.zone(name)
    except ValidationError:
        return ZoneInfo("UTC")


def _silence_form(request, silence, team, teams=(), initial=None):
    workflows = Workflow.objects.filter(team=team).order_by("name")
    rules = AlertRule.objects.filter(team=team).order_by("name")
    form = SilenceForm(request.POST or None, team=team, workflows=workflows, rules=rules, initial=initial)
    if request.method == "POST":
        # Times are typed on the silence's own time zone's clock.
        with timezone.override(_zone_or_utc(request.POST.get("time_zone", "UTC"))):
            valid = form.is_valid()
        if valid and _validated(form, silence):
            silence.team = team
            silence.created_by = silence.created_by or principal_from_request(request).display_name
            silence.save()
            messages.success(request, "Saved the silence.")
            return redirect("alerting:silences")
    return render(request, "alerting/silence_form.html", {"form": form, "object": silence, "team": team,
                                                          "teams": teams, "what": "silence",
                                                          "list_url": "alerting:silences"})


def _validated(form, silence):
    """Fill the silence from the form if alerts.silences accepts it; else show its errors."""
    try:
        matchers = silences.validate_matchers(form.matchers(), form.team)
    except ValidationError as e:
        add_validation_error(form, e)
        matchers = None
    schedule = form.schedule()
    try:
        silences.validate_schedule(**schedule)
    except ValidationError as e:
        add_validation_error(form, e)
    if form.errors:
        return False
    silence.matchers, silence.comment = matchers, form.cleaned_data["comment"]
    for name, value in schedule.items():
        setattr(silence, name, value)
    return True


def _prefill_from_alert(request, team):
    """?alert=<uuid>: the form starts as "silence this alert" (alerts.silences.matchers_for)."""
    alert = visible(request, Alert.objects.select_related("team", "workflow")).filter(
        pk=request.GET.get("alert"), team=team).first() if _is_uuid(request.GET.get("alert")) else None
    if alert is None:
        return None
    draft = silences.silence_for(alert, 120, principal_from_request(request).display_name)
    return SilenceForm.initial_from(draft, ZoneInfo("UTC"))


def _is_uuid(value):
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


@login_required
def silence_new(request):
    team, teams = team_for_new(request)
    initial = _prefill_from_alert(request, team) if request.method == "GET" else None
    return _silence_form(request, Silence(team=team), team, teams, initial)


@login_required
def silence_edit(request, pk):
    silence = editable(request, Silence.objects.select_related("team"), pk)
    initial = SilenceForm.initial_from(silence, _zone_or_utc(silence.time_zone))
    return _silence_form(request, silence, silence.team, initial=initial)


@login_required
@require_POST
def silence_expire(request, pk):
    """End the silence now; it stays listed under expired."""
    silence = editable(request, Silence.objects.all(), pk)
    now = timezone.now()
    silence.starts_at, silence.ends_at = min(silence.starts_at, now), now
    silence.save(update_fields=["starts_at", "ends_at"])
    messages.success(request, "The silence has expired.")
    return redirect("alerting:silences")


@login_required
@require_POST
def silence_delete(request, pk):
    return delete_page(request, Silence.objects.all(), pk, "alerting:silences")
