"""The Channels page: where a team's notifications go, whether each channel works (failing mark,
last success and failure, the latest test), with secrets only ever shown masked. Admins add,
edit, delete and send a test; a new channel starts by choosing its kind, whose own field list
(alerts.channels.registry) draws the form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from monitoring.access import principal_from_request

from .. import delivery
from ..channels import registry
from ..models import Channel, Delivery, NotificationEvent
from .channel_forms import ChannelForm
from .common import add_validation_error, team_for_new, visible
from .views import delete_page, editable, list_page


def _latest_tests(channels):
    """Each channel's latest test delivery, in one query."""
    latest = {}
    tests = Delivery.objects.filter(channel__in=channels, event=NotificationEvent.TEST)
    for d in tests.order_by("channel_id", "-created_at").distinct("channel_id"):
        latest[d.channel_id] = d
    return latest


@login_required
def channels(request):
    objects = list(visible(request, Channel.objects.select_related("team")).order_by("team__slug", "name"))
    tests = _latest_tests(objects)
    for channel in objects:
        channel.masked = sorted(delivery.masked_secrets(channel).items())
        channel.failing = delivery.is_failing(channel)
        channel.latest_test = tests.get(channel.pk)
        channel.kind_label = getattr(registry.KINDS.get(channel.kind), "label", channel.kind)
    return list_page(request, "alerting/channels.html", objects)


def _channel_form(request, channel, kind, team, teams=()):
    masked = delivery.masked_secrets(channel) if channel.secrets else {}
    initial = ChannelForm.initial_from(channel) if channel.pk else None
    form = ChannelForm(request.POST or None, kind=kind, masked=masked, initial=initial)
    if request.method == "POST" and form.is_valid() and _save(request, form, channel, team):
        messages.success(request, f"Saved channel “{channel.name}”.")
        return redirect("alerting:channels")
    return render(request, "alerting/channel_form.html", {
        "form": form, "object": channel, "team": team, "teams": teams, "what": "channel",
        "list_url": "alerting:channels", "kind_label": kind.label,
    })


def _save(request, form, channel, team):
    """Validate with the kind's own rules and store (secrets encrypted; one left blank keeps its
    stored value). False: the errors are on the form."""
    channel.team, channel.name, channel.enabled = team, form.cleaned_data["name"], form.cleaned_data["enabled"]
    channel.created_by = channel.created_by or request.user
    try:
        with transaction.atomic():
            delivery.configure_channel(channel, config=form.config(), secrets=form.secrets())
    except ValidationError as e:
        add_validation_error(form, e, form.field_names())
        return False
    except IntegrityError:
        form.add_error("name", "The team already has a channel with this name.")
        return False
    return True


@login_required
def channel_new(request):
    team, teams = team_for_new(request)
    name = request.GET.get("kind") or request.POST.get("kind")
    if name not in registry.KINDS:
        return render(request, "alerting/channel_kinds.html", {"kinds": registry.choices(), "team": team, "teams": teams,
                                                               "what": "channel", "list_url": "alerting:channels",
                                                               "object": None})
    return _channel_form(request, Channel(team=team, kind=name), registry.get(name), team, teams)


@login_required
def channel_edit(request, pk):
    channel = editable(request, Channel.objects.select_related("team"), pk)
    if channel.kind not in registry.KINDS:
        raise Http404("This channel's kind is no longer available.")
    return _channel_form(request, channel, registry.get(channel.kind), channel.team)


@login_required
@require_POST
def channel_delete(request, pk):
    return delete_page(request, Channel.objects.all(), pk, "alerting:channels")


@login_required
@require_POST
def channel_test(request, pk):
    """Send a test notification now and say how it went; it is recorded as a delivery."""
    channel = editable(request, Channel.objects.select_related("team"), pk)
    result = delivery.send_test(channel, principal_from_request(request).display_name)
    text = f"Test to “{channel.name}”: {result.get_status_display().lower()}"
    if result.response_code:
        text += f" (HTTP {result.response_code})"
    if result.error:
        text += f": {result.error}"
    (messages.success if result.status == "sent" else messages.error)(request, text)
    return redirect("alerting:channels")
