"""Django admin for the alerting set-up, scoped like monitoring's admin (monitoring.admin.
TeamScopedAdmin): everyone with a role in a team sees its rules, channels, routes, silences and
deliveries; team admins (and super admins) change them. Deliveries, rule states and notification
records are the engine's own: read-only.

Saving runs the checks the API and the web UI run: a rule's kind params and scope
(alerts.rules.registry), a channel's config and secrets (alerts.channels.registry), a silence's
matchers and schedule (alerts.silences), and no reference to another team's objects. Channel
secrets are write-only: typed into a field that is never filled back in, shown only masked."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join

from monitoring.access import MANAGE, READ, principal_from_request
from monitoring.admin import TeamFilter, TeamScopedAdmin, scoped, shortened
from monitoring.models import AlertSeverity

from . import delivery, silences
from .channels import registry as channel_registry
from .models import AlertNotification, AlertRule, Channel, Delivery, Route, RuleState, Silence
from .rules import registry as rule_registry

# Related objects whose choice lists offer only the user's teams, and how each reaches its team.
SCOPED_RELATIONS = {Channel: "team", AlertRule: "team"}


def form_errors(form, exc):
    """A ValidationError keyed by model field, put on the form: at the field when the form shows
    it, otherwise at the top of the form."""
    for name, messages_ in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, messages_)


class SameTeamForm(forms.ModelForm):
    """Refuses references to another team's channels, rules or workflows (a super admin sees every
    team's in the choice lists, a person who administers two teams sees both)."""

    team_references = ()  # field names whose objects must be of the form's team

    def clean(self):
        cleaned = super().clean()
        team = cleaned.get("team") or (self.instance.team if self.instance.team_id else None)
        if team is None:
            return cleaned
        for name in self.team_references:
            value = cleaned.get(name)
            objs = list(value) if hasattr(value, "__iter__") else [value]
            if any(obj is not None and obj.team_id != team.pk for obj in objs):
                self.add_error(name, f"Must be of the team {team}.")
        return cleaned


class AlertingAdmin(TeamScopedAdmin):
    team_field = "team"
    change_action = add_action = delete_action = MANAGE

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        path = SCOPED_RELATIONS.get(db_field.related_model)
        if path is not None:
            kwargs["queryset"] = scoped(request, db_field.related_model._default_manager.all(), MANAGE, path)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        path = SCOPED_RELATIONS.get(db_field.related_model)
        if path is not None:
            kwargs["queryset"] = scoped(request, db_field.related_model._default_manager.all(), MANAGE, path)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReadOnlyAdmin(TeamScopedAdmin):
    """The engine's records: seen by the team, changed by nobody here."""

    change_action = add_action = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- rules ----------------------------------------------------------------------------------------
class AlertRuleForm(SameTeamForm):
    team_references = ("workflow", "channels")

    class Meta:
        model = AlertRule
        fields = "__all__"

    def _post_clean(self):
        super()._post_clean()
        if self.instance.team_id is None or self.errors:
            return
        try:
            rule_registry.validate_rule(self.instance)  # fills in the params' defaults
        except ValidationError as exc:
            form_errors(self, exc)


@admin.register(AlertRule)
class AlertRuleAdmin(AlertingAdmin):
    form = AlertRuleForm
    list_display = ["name", "team", "kind", "severity", "workflow", "tag", "for_seconds", "enabled"]
    list_filter = [TeamFilter, "kind", "severity", "enabled"]
    search_fields = ["name", "team__slug", "workflow__external_id", "tag"]
    list_select_related = ["team", "workflow"]
    raw_id_fields = ["workflow"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    filter_horizontal = ["channels"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --- channels -------------------------------------------------------------------------------------
class WriteOnlyTextarea(forms.Textarea):
    """Never renders a value: a secret typed in is not sent back to the browser, even when the form
    is shown again with errors."""

    def format_value(self, value):
        return ""


class ChannelForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())
    new_secrets = forms.CharField(
        label="Secrets", required=False, widget=WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text='A JSON object, e.g. {"url": "https://hooks.slack.com/services/…"}. Names given are set, '
                  "null removes one, the others are kept; leave empty to keep the stored secrets. "
                  "Never shown again (see the masked values).",
    )

    class Meta:
        model = Channel
        fields = ["team", "name", "kind", "config", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = channel_registry.choices()

    def clean_new_secrets(self):
        text = self.cleaned_data["new_secrets"].strip()
        if not text:
            return {}
        try:
            given = json.loads(text)
        except ValueError:
            raise ValidationError("Must be a JSON object.")
        if not isinstance(given, dict) or not all(isinstance(v, str) or v is None for v in given.values()):
            raise ValidationError("Must be a JSON object of names to text values (or null to remove one).")
        return given

    def clean_config(self):
        return self.cleaned_data["config"] or {}

    def clean(self):
        cleaned = super().clean()
        kind, config = cleaned.get("kind"), cleaned.get("config")
        if kind is None or config is None or "new_secrets" not in cleaned:
            return cleaned
        stored = delivery.channel_secrets(self.instance) if self.instance.pk else {}
        merged = {**stored, **cleaned["new_secrets"]}
        self.secrets = {name: value for name, value in merged.items() if value not in (None, "")}
        try:
            channel_registry.validate(kind, config, self.secrets)
        except ValidationError as exc:
            self._place(exc, kind)
        return cleaned

    def _place(self, exc, kind):
        """The registry's {field name: message} at the form field holding that setting."""
        secret_names = {f.name for f in getattr(channel_registry.KINDS.get(kind), "secret_fields", ())}
        for name, problems in exc.message_dict.items():
            if name in ("kind", "config"):
                self.add_error(name, problems)
            elif name == "secrets" or name in secret_names or name in self.secrets:
                self.add_error("new_secrets", [f"{name}: {problem}" for problem in problems])
            else:
                self.add_error("config", [f"{name}: {problem}" for problem in problems])


@admin.register(Channel)
class ChannelAdmin(AlertingAdmin):
    form = ChannelForm
    list_display = ["name", "team", "kind", "enabled", "failing", "consecutive_failures", "last_success_at",
                    "last_failure_at"]
    list_filter = [TeamFilter, "kind", "enabled"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["masked_secrets", "consecutive_failures", "last_success_at", "last_failure_at", "created_by",
                       "created_at", "updated_at"]
    actions = ["send_test"]

    def get_fields(self, request, obj=None):
        editing = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        return ["team", "name", "kind", "config", *(["new_secrets"] if editing else []), "masked_secrets", "enabled",
                "consecutive_failures", "last_success_at", "last_failure_at", "created_by", "created_at",
                "updated_at"]

    @admin.display(boolean=True)
    def failing(self, obj):
        return delivery.is_failing(obj)

    @admin.display(description="secrets (masked)")
    def masked_secrets(self, obj):
        masked = delivery.masked_secrets(obj) if obj and obj.pk else {}
        return format_html_join("", "<div>{}: {}</div>", sorted(masked.items())) or "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        delivery.set_secrets(obj, form.secrets, save=False)
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request, queryset):
        actor = principal_from_request(request).display_name
        for channel in scoped(request, queryset, MANAGE, self.team_field):
            sent = delivery.send_test(channel, actor)
            outcome = f"{channel}: {sent.get_status_display()}"
            if sent.response_code:
                outcome += f" ({sent.response_code})"
            if sent.error:
                outcome += f" — {sent.error}"
            self.message_user(request, outcome, messages.SUCCESS if sent.status == "sent" else messages.ERROR)


# --- routes ---------------------------------------------------------------------------------------
class RouteForm(SameTeamForm):
    team_references = ("channel", "escalation_channel", "rules")

    class Meta:
        model = Route
        fields = "__all__"

    def clean_severities(self):
        value = self.cleaned_data["severities"] or []
        if not isinstance(value, list) or any(v not in AlertSeverity.values for v in value):
            raise ValidationError(f"A list of severities: {', '.join(AlertSeverity.values)} (empty: every one).")
        return value

    def clean_tags(self):
        value = self.cleaned_data["tags"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValidationError('A list of workflow tags, e.g. ["billing"] (empty: every workflow).')
        return value


@admin.register(Route)
class RouteAdmin(AlertingAdmin):
    form = RouteForm
    list_display = ["name", "team", "channel", "severities", "tags", "repeat_interval_minutes", "escalation_channel",
                    "enabled"]
    list_filter = [TeamFilter, "enabled"]
    search_fields = ["name", "team__slug", "channel__name"]
    list_select_related = ["team", "channel", "escalation_channel"]
    readonly_fields = ["created_at"]
    filter_horizontal = ["rules"]


# --- silences -------------------------------------------------------------------------------------
class SilenceForm(forms.ModelForm):
    class Meta:
        model = Silence
        exclude = ["created_by"]

    def _post_clean(self):
        super()._post_clean()
        if self.instance.team_id is None or self.errors:
            return
        try:
            silences.validate_silence(self.instance)  # cleans the matchers
        except ValidationError as exc:
            form_errors(self, exc)


@admin.register(Silence)
class SilenceAdmin(AlertingAdmin):
    form = SilenceForm
    list_display = ["__str__", "team", "starts_at", "ends_at", "weekdays", "time_zone", "in_effect", "created_by"]
    list_filter = [TeamFilter]
    search_fields = ["comment", "team__slug", "created_by"]
    list_select_related = ["team"]
    readonly_fields = ["created_by", "created_at"]
    date_hierarchy = "starts_at"

    @admin.display(boolean=True, description="in effect")
    def in_effect(self, obj):
        return silences.is_active(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = principal_from_request(request).display_name
        super().save_model(request, obj, form, change)


# --- what the engine records ----------------------------------------------------------------------
class ChannelListFilter(admin.SimpleListFilter):
    """By channel, offering only the channels of the user's teams."""

    title = "channel"
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        channels = scoped(request, Channel.objects.select_related("team"), READ, "team")
        return [(c.pk, f"{c.name} ({c.team.slug})") for c in channels]

    def queryset(self, request, queryset):
        return queryset.filter(channel_id=self.value()) if self.value() else queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    team_field = "channel__team"
    error_short = shortened("error")
    list_display = ["created_at", "channel", "event", "attempt", "status", "response_code", "error_short", "alert"]
    list_filter = ["status", "event", ChannelListFilter, TeamFilter]
    search_fields = ["channel__name", "error", "alert__title"]
    list_select_related = ["channel__team", "alert"]
    date_hierarchy = "created_at"


@admin.register(RuleState)
class RuleStateAdmin(ReadOnlyAdmin):
    team_field = "rule__team"
    list_display = ["rule", "workflow", "fingerprint", "pending_since", "firing", "last_value", "updated_at"]
    list_filter = ["firing", TeamFilter]
    search_fields = ["rule__name", "fingerprint", "workflow__external_id"]
    list_select_related = ["rule__team", "workflow"]


@admin.register(AlertNotification)
class AlertNotificationAdmin(ReadOnlyAdmin):
    team_field = "alert__team"
    list_display = ["alert", "first_notified_at", "last_notified_at", "escalated_at", "acknowledged_notified_at",
                    "resolved_notified_at"]
    search_fields = ["alert__title"]
    list_filter = [TeamFilter]
    list_select_related = ["alert"]
