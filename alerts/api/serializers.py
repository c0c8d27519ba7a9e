"""The alerting API's objects, in and out: rules, channels, routes, silences, deliveries.

One serializer per object serves reads and writes (the OpenAPI document splits them into the
answer and the request body). Writes are checked by the same code as the web UI and admin: a
rule's params by its kind's module (alerts.rules.registry), a channel's config and secrets by its
kind's module (alerts.channels.registry), a silence by alerts.silences. Their errors come back as
400s naming the field. References to other objects (a route's channel, a rule's workflow) must
stay inside the object's team: an id from another team is refused like an id that does not exist.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from monitoring.models import AlertSeverity, Workflow
from monitoring.schemas import INT_MAX

from .. import silences
from ..rules import registry as rule_kinds
from ..models import AlertRule, Channel, Delivery, Route, RuleKind, Silence
from . import channel_kinds
from .common import JSONObjectField, StrictModelSerializer

MAX_MINUTES = 366 * 24 * 60  # a year


def field_errors(exc: DjangoValidationError, default_field):
    """A Django ValidationError as DRF's {field: [messages]}; one without fields is put under
    `default_field` (the field the checked value came from)."""
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {default_field: [str(m) for m in exc.messages]}


class TeamObjectField(serializers.PrimaryKeyRelatedField):
    """The id of another object of the same team. Ids of other teams' objects are answered like
    ids that do not exist, so nobody learns which ids exist elsewhere."""

    default_error_messages = {
        "does_not_exist": "No {model} with id {pk_value} in this team.",
        "incorrect_type": "must be an id (a whole number), got {data_type}.",
    }

    def get_queryset(self):
        team = self.root.context.get("team")
        queryset = self.queryset.model._default_manager.all()
        return queryset.filter(team=team) if team is not None else queryset.none()

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, int) and not 1 <= data <= INT_MAX):
            self.fail("does_not_exist", pk_value=data, model=self.queryset.model._meta.verbose_name)
        return super().to_internal_value(data)

    def fail(self, key, **kwargs):
        kwargs.setdefault("model", self.queryset.model._meta.verbose_name)
        return super().fail(key, **kwargs)


def _team_object(model, **kwargs):
    return TeamObjectField(queryset=model._default_manager.all(), **kwargs)


def candidate(model, instance, team, attrs, exclude=()):
    """The object as it would be saved (the stored one with `attrs` applied, unsaved), for the
    validation the web UI and admin share, which checks whole objects."""
    obj = model(team=team)
    if instance is not None:
        for f in model._meta.concrete_fields:
            setattr(obj, f.attname, getattr(instance, f.attname))
    for name, value in attrs.items():
        if name not in exclude:
            setattr(obj, name, value)
    return obj


class TeamOwned(StrictModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)


# --- rules ----------------------------------------------------------------------------------------
class AlertRuleSerializer(TeamOwned):
    """A condition over the team's workflows that raises an alert: all of them (no workflow, no
    tag), one workflow, or those with a tag. `params` are what the kind needs (docs/alerting.md)."""

    kind = serializers.ChoiceField(choices=RuleKind.choices)
    workflow = _team_object(Workflow, required=False, allow_null=True,
                            help_text="Only this workflow (its id, as /api/v1/workflows/ shows it)")
    tag = serializers.CharField(required=False, allow_blank=True, max_length=100)
    params = JSONObjectField(required=False, help_text="What the kind needs: thresholds, windows (docs/alerting.md)")
    severity = serializers.ChoiceField(choices=AlertSeverity.choices, required=False)
    for_seconds = serializers.IntegerField(required=False, min_value=0, max_value=7 * 24 * 3600,
                                           help_text="How long the condition must hold before it fires")
    channels = _team_object(Channel, many=True, required=False,
                            help_text="Notify these channels too, whatever the routes say")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AlertRule
        fields = ["id", "team", "name", "kind", "workflow", "tag", "params", "severity", "for_seconds",
                  "auto_resolve", "enabled", "channels", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        rule = candidate(AlertRule, self.instance, self.team(), attrs, exclude=("channels",))
        try:
            attrs["params"] = rule_kinds.validate_rule(rule)  # defaults filled in
        except DjangoValidationError as exc:
            raise ValidationError(field_errors(exc, "params"))
        return attrs


# --- channels -------------------------------------------------------------------------------------
@extend_schema_field({
    "type": "object", "additionalProperties": {"type": "string", "nullable": True},
    "description": "Write only in full: the channel kind's secrets (webhook URL, key, bot token, SMTP password). "
                   "Given names are set, null removes one, others are kept; a value equal to the masked value "
                   "shown is kept unchanged. Read back masked (service tokens see no characters of them).",
})
class SecretsField(serializers.Field):
    """Write: secrets (name to value; null removes). Read: the masked values, never the secrets."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, channel):
        masked = channel_kinds.masked_secrets(channel)
        principal = self.context.get("principal")
        if principal is None or principal.token is not None:
            # Tokens are for services; they have no use for even part of a secret.
            return {name: channel_kinds.HIDDEN for name in masked}
        return masked

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationError("must be a JSON object of names to secret values")
        for name, value in data.items():
            if not name or len(name) > 100 or "\x00" in name:
                raise ValidationError("names must be 1 to 100 characters without NUL characters")
            if value is not None and (not isinstance(value, str) or len(value) > 4000 or "\x00" in value):
                raise ValidationError({name: ["must be a string of at most 4000 characters, or null to remove it"]})
        return {"secrets": data}


class ChannelSerializer(TeamOwned):
    """Where notifications go. Settings that are not secret in `config`, secrets in `secrets`."""

    kind = serializers.ChoiceField(choices=())
    config = JSONObjectField(required=False, help_text="The kind's settings that are not secret (docs/alerting.md)")
    secrets = SecretsField(required=False)
    failing = serializers.SerializerMethodField(help_text="Deliveries keep failing (the Channels page marks it)")

    class Meta:
        model = Channel
        fields = ["id", "team", "name", "kind", "config", "secrets", "enabled", "failing", "consecutive_failures",
                  "last_failure_at", "last_success_at", "created_at", "updated_at"]
        read_only_fields = ["consecutive_failures", "last_failure_at", "last_success_at", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = channel_kinds.choices()

    def get_failing(self, channel) -> bool:
        return channel_kinds.is_failing(channel)

    def validate_name(self, name):
        others = Channel.objects.filter(team=self.team(), name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError("A channel with this name already exists in this team.")
        return name

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        config = attrs.get("config", getattr(self.instance, "config", None) or {})
        given = attrs.pop("secrets", None)
        secrets = channel_kinds.merged_secrets(self.instance, given)
        try:
            attrs["config"], secrets = channel_kinds.validate_channel(kind, config, secrets)
        except DjangoValidationError as exc:
            raise ValidationError(field_errors(exc, "config"))
        # Only when secrets were given (or the kind changed): a PATCH of the name re-encrypts nothing.
        if given is not None or self.instance is None or kind != self.instance.kind:
            self._secrets = secrets
        return attrs

    def save(self, **kwargs):
        channel = super().save(**kwargs)
        if getattr(self, "_secrets", None) is not None:
            channel_kinds.set_secrets(channel, self._secrets)
        return channel


# --- routes ---------------------------------------------------------------------------------------
class RouteSerializer(TeamOwned):
    """Which of the team's alerts go to a channel: by severity, and optionally only some rules or
    workflow tags; how often an unresolved alert is notified again; where unacknowledged
    critical alerts are escalated."""

    channel = _team_object(Channel)
    severities = serializers.ListField(child=serializers.ChoiceField(choices=AlertSeverity.choices), required=False,
                                       max_length=len(AlertSeverity.values), help_text="Empty: every severity")
    rules = _team_object(AlertRule, many=True, required=False, help_text="Empty: every rule")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50,
                                 help_text="Only alerts of workflows with one of these tags; empty: every workflow")
    repeat_interval_minutes = serializers.IntegerField(required=False, min_value=1, max_value=MAX_MINUTES)
    escalation_channel = _team_object(Channel, required=False, allow_null=True)
    escalate_after_minutes = serializers.IntegerField(required=False, min_value=1, max_value=MAX_MINUTES)

    class Meta:
        model = Route
        fields = ["id", "team", "name", "channel", "severities", "rules", "tags", "repeat_interval_minutes",
                  "escalation_channel", "escalate_after_minutes", "enabled", "created_at"]
        read_only_fields = ["created_at"]

    def validate_severities(self, value):
        if len(set(value)) != len(value):
            raise ValidationError("must not repeat a severity")
        return value


# --- silences -------------------------------------------------------------------------------------
class SilenceSerializer(TeamOwned):
    """Mutes the notifications of the alerts it matches while in effect (they are still recorded,
    marked silenced): once from starts_at to ends_at, or, with weekdays, in a weekly window from
    daily_start for duration_minutes in time_zone, between starts_at and ends_at."""

    matchers = JSONObjectField(required=False, help_text="Every given matcher must match: workflow, tag, "
                                                        "alert_type, severity, rule, labels (docs/alerting.md)")
    starts_at = serializers.DateTimeField(required=False, help_text="Default: now")
    ends_at = serializers.DateTimeField()
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=7), required=False,
                                     max_length=7, help_text="ISO weekdays, 1 = Monday … 7 = Sunday; empty: one-off")
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                                max_value=silences.MAX_WINDOW_MINUTES)
    time_zone = serializers.CharField(required=False, max_length=64)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    active = serializers.SerializerMethodField(help_text="In effect now")

    class Meta:
        model = Silence
        fields = ["id", "team", "matchers", "starts_at", "ends_at", "weekdays", "daily_start", "duration_minutes",
                  "time_zone", "comment", "created_by", "created_at", "active"]
        read_only_fields = ["created_by", "created_at"]

    def get_active(self, silence) -> bool:
        return silences.is_active(silence)

    def validate(self, attrs):
        silence = candidate(Silence, self.instance, self.team(), attrs)
        try:
            silences.validate_silence(silence)  # cleans the matchers
        except DjangoValidationError as exc:
            raise ValidationError(field_errors(exc, "matchers"))
        attrs["matchers"] = silence.matchers
        return attrs


# --- deliveries -----------------------------------------------------------------------------------
class DeliverySerializer(serializers.ModelSerializer):
    """One attempt to send one notification to one channel (retries are new rows)."""

    team = serializers.CharField(source="channel.team.slug", read_only=True)
    channel_name = serializers.CharField(source="channel.name", read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "team", "alert", "channel", "channel_name", "event", "attempt", "status", "response_code",
                  "error", "response_excerpt", "created_at", "finished_at"]
        read_only_fields = fields
