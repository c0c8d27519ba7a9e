"""POST /api/v1/integrations/alertmanager — Prometheus Alertmanager's webhook receiver.

Alertmanager's webhook_configs post payload version "4" here, with a team's service token in
`http_config.authorization` (README, "Alertmanager"). The payload is checked whole before anything
is written (a 400 naming the field, e.g. alerts.0.fingerprint); alerts.alertmanager.receive then
raises and clears the alerts in one transaction. Fields Alertmanager may add in later versions
are ignored, so an upgrade does not break the receiver."""

import json

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.api.audit import AuditedAPIMixin
from monitoring.api.openapi import DocumentOnly
from monitoring.models import AlertStatus
from monitoring.schemas import _check_json

from .. import alertmanager
from .common import AlertingAutoSchema

MAX_TEXT = 10_000
MAX_LABEL_NAME = 255


class LabelSetField(serializers.DictField):
    """Alertmanager's labels or annotations: names to text values, bounded in size."""

    child = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            bad = [name for name in data if not name or len(name) > MAX_LABEL_NAME or "\x00" in name]
            if bad:
                raise ValidationError(f"names must be 1 to {MAX_LABEL_NAME} characters without NUL characters; "
                                      f"got {bad[0][:50]!r}")
        value = super().to_internal_value(data)
        _check_json(value)
        size = len(json.dumps(value))
        if size > settings.FLOWTOWER_MAX_METADATA_BYTES:
            raise ValidationError(f"is {size} bytes; at most {settings.FLOWTOWER_MAX_METADATA_BYTES} are accepted")
        return value


class AlertmanagerAlert(serializers.Serializer):
    """One alert of the group, as Alertmanager last saw it."""

    status = serializers.ChoiceField(choices=AlertStatus.choices)
    labels = LabelSetField()
    annotations = LabelSetField(required=False, default=dict)
    startsAt = serializers.DateTimeField()
    endsAt = serializers.DateTimeField(required=False, allow_null=True,
                              help_text="0001-01-01T00:00:00Z (Alertmanager's zero time) while it has no end")
    generatorURL = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT, default="")
    fingerprint = serializers.CharField(max_length=128 - len(alertmanager.FINGERPRINT_PREFIX),
                                        help_text="Alertmanager's id of the alert; "
                                                  "the Flowtower alert's fingerprint is am:<this>")


class WebhookPayload(serializers.Serializer):
    """Alertmanager's webhook body, version "4" (https://prometheus.io/docs/alerting/latest/configuration/
    #webhook_config). Other fields than these are ignored."""

    version = serializers.ChoiceField(choices=["4"])
    receiver = serializers.CharField(allow_blank=True, max_length=MAX_TEXT)
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    groupKey = serializers.CharField(allow_blank=True, max_length=MAX_TEXT)
    truncatedAlerts = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    groupLabels = LabelSetField(required=False)
    commonLabels = LabelSetField(required=False)
    commonAnnotations = LabelSetField(required=False)
    externalURL = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    alerts = serializers.ListField(child=AlertmanagerAlert(), max_length=settings.FLOWTOWER_BATCH_MAX_ITEMS)


class AlertOutcome(DocumentOnly):
    fingerprint = serializers.CharField(help_text="am:<Alertmanager's fingerprint>")
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    id = serializers.UUIDField(allow_null=True, help_text="The Flowtower alert; null for a resolved alert that "
                                                          "was not open")
    created = serializers.BooleanField(help_text="A new alert (not a repeat of an open one)")


class WebhookSummary(DocumentOnly):
    """What the payload changed."""

    received = serializers.IntegerField()
    created = serializers.IntegerField(help_text="Firing alerts that opened a new Flowtower alert")
    updated = serializers.IntegerField(help_text="Firing alerts already open: one more occurrence")
    resolved = serializers.IntegerField(help_text="Resolved alerts that were open")
    already_resolved = serializers.IntegerField(help_text="Resolved alerts with no open Flowtower alert")
    alerts = AlertOutcome(many=True)


class AlertmanagerWebhook(AuditedAPIMixin, APIView):
    schema = AlertingAutoSchema()

    @extend_schema(request=WebhookPayload, responses={200: WebhookSummary}, operation_id="alertmanager_webhook",
                   tags=["integrations"])
    def post(self, request):
        """Alertmanager's webhook (payload version "4"), authenticated with a service token: firing
        alerts are raised in the token's team, deduplicated by Alertmanager's fingerprint
        (am:<fingerprint>); resolved ones resolve. Tied to the workflow whose id is the
        `workflow_id` label; severity from the `severity` label (critical/page/error: critical,
        warning/warn: warning, info/none: info, anything else: warning); alert_type from the
        `alert_type` label, else dependency; title from the summary or title annotation, else the
        alertname label; description from the description annotation. All or nothing."""
        token = self.principal.token
        if token is None:
            raise PermissionDenied("This endpoint takes a service token (Authorization: Bearer ft_…); "
                                   "its alerts go to the token's team.")
        payload = WebhookPayload(data=request.data)
        payload.is_valid(raise_exception=True)
        summary = alertmanager.receive(token.team, payload.validated_data)
        return Response(summary.as_dict())
