"""/api/v1/alert-rules/, channels/, routes/, silences/, deliveries/ — a team's alerting set-up.

Who may do what (monitoring.access): everyone with a role in the team and the team's service
tokens read; team admins and super admins create, change, delete, send tests and expire
silences; members, viewers and tokens get 403 for those. Another team's objects answer 404.
Channel secrets are taken on writes and never answered in full (masked; tokens see none of them).
"""

import django_filters as filters
from django import forms
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from monitoring.access import MANAGE, READ, scope
from monitoring.api.v1 import ScopedViewSetMixin
from monitoring.schemas import INT_MAX

from ..models import AlertRule, Channel, Delivery, DeliveryStatus, NotificationEvent, Route, RuleKind, Silence
from . import channel_kinds
from .common import NEEDS_ADMIN, AlertingAutoSchema, TeamAlertingViewSet
from .serializers import (
    AlertRuleSerializer,
    ChannelSerializer,
    DeliverySerializer,
    RouteSerializer,
    SilenceSerializer,
)


# --- filters ----------------------------------------------------------------------------------------
class IdField(forms.IntegerField):
    """An object id: a whole number within PostgreSQL's integer range (beyond it: a 400, not a 500)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=INT_MAX, **kwargs)


class IdFilter(filters.Filter):
    field_class = IdField


class TeamFilterSet(filters.FilterSet):
    team = filters.CharFilter(field_name="team__slug", max_length=64, help_text="A team's slug")


class RuleFilter(TeamFilterSet):
    kind = filters.ChoiceFilter(choices=RuleKind.choices)
    workflow = IdFilter(field_name="workflow_id")
    enabled = filters.BooleanFilter()

    class Meta:
        model = AlertRule
        fields = []


class ChannelFilter(TeamFilterSet):
    kind = filters.CharFilter(max_length=32)
    enabled = filters.BooleanFilter()

    class Meta:
        model = Channel
        fields = []


class RouteFilter(TeamFilterSet):
    channel = IdFilter(field_name="channel_id")
    enabled = filters.BooleanFilter()

    class Meta:
        model = Route
        fields = []


class SilenceFilter(TeamFilterSet):
    class Meta:
        model = Silence
        fields = []


class DeliveryFilter(filters.FilterSet):
    team = filters.CharFilter(field_name="channel__team__slug", max_length=64, help_text="A team's slug")
    alert = filters.UUIDFilter(field_name="alert_id", help_text="An alert's id")
    channel = IdFilter(field_name="channel_id", help_text="A channel's id")
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event = filters.ChoiceFilter(choices=NotificationEvent.choices)

    class Meta:
        model = Delivery
        fields = []


# --- viewsets -----------------------------------------------------------------------------------------
class AlertRuleViewSet(TeamAlertingViewSet):
    serializer_class = AlertRuleSerializer
    filterset_class = RuleFilter
    queryset = AlertRule.objects.none()

    def get_queryset(self):
        return super().get_queryset().select_related("workflow", "created_by").prefetch_related("channels")


@extend_schema_view(test=extend_schema(request=None, responses={200: DeliverySerializer}))
class ChannelViewSet(TeamAlertingViewSet):
    serializer_class = ChannelSerializer
    filterset_class = ChannelFilter
    queryset = Channel.objects.none()

    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a test notification through the channel now (team admins) and answer the delivery:
        its status, the receiver's response code, a bounded excerpt of its answer or the error."""
        channel = self.get_object()
        self.require(MANAGE, channel.team_id, NEEDS_ADMIN)
        delivery = channel_kinds.send_test(channel, self.principal)
        return Response(DeliverySerializer(delivery).data)


class RouteViewSet(TeamAlertingViewSet):
    serializer_class = RouteSerializer
    filterset_class = RouteFilter
    queryset = Route.objects.none()

    def get_queryset(self):
        return super().get_queryset().select_related("channel", "escalation_channel").prefetch_related("rules")


@extend_schema_view(
    expire=extend_schema(request=None, responses={200: SilenceSerializer}),
    destroy=extend_schema(description="Delete the silence (team admins). To end it but keep it on record, "
                                      "POST …/expire/."),
)
class SilenceViewSet(TeamAlertingViewSet):
    serializer_class = SilenceSerializer
    filterset_class = SilenceFilter
    queryset = Silence.objects.none()
    ordering = ("-starts_at", "-pk")

    @action(detail=True, methods=["post"])
    def expire(self, request, pk=None):
        """End the silence now (team admins): it stays on record, no longer in effect. Expiring an
        expired silence changes nothing."""
        silence = self.get_object()
        self.require(MANAGE, silence.team_id, NEEDS_ADMIN)
        now = timezone.now()
        if silence.ends_at > now:
            silence.ends_at = max(now, silence.starts_at)
            silence.save(update_fields=["ends_at"])  # alerts.notify re-marks the team's alerts
        return Response(self.get_serializer(silence).data)


class DeliveryViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Every attempt to send a notification, newest first; filter by alert, channel, status, event."""

    schema = AlertingAutoSchema()
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    queryset = Delivery.objects.none()

    def get_queryset(self):
        return scope(Delivery.objects.select_related("channel__team"), self.principal, READ,
                     "channel__team").order_by("-created_at", "-pk")
