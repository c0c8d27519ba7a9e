"""Forms of the alerting pages: routes and silences. Rules and channels, whose fields depend on
their kind, are in rule_forms.py and channel_forms.py. Forms parse what people type (lines, comma
lists, local times); what is allowed is decided by the engine's own validation (alerts.silences,
the rule and channel registries), whose errors the views put back on these forms."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from monitoring.models import AlertSeverity, AlertType

from ..models import AlertRule, Channel, Route

WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]
MAX_MINUTES = 366 * 24 * 60
LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def comma_list(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class TeamScopedForm(forms.ModelForm):
    """A form for one team's object: its channel and rule choices are that team's only."""

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField) and field.queryset.model in (Channel, AlertRule):
                field.queryset = field.queryset.model.objects.filter(team=team).order_by("name")


class RouteForm(TeamScopedForm):
    severities = forms.MultipleChoiceField(
        choices=AlertSeverity.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every severity.")
    # As the API takes them: from a minute to a year.
    repeat_interval_minutes = forms.IntegerField(
        min_value=1, max_value=MAX_MINUTES, initial=240, label="Repeat every (minutes)",
        help_text="An open alert nobody acknowledged is notified again this often.")
    escalate_after_minutes = forms.IntegerField(min_value=1, max_value=MAX_MINUTES, initial=30,
                                                label="Escalate after (minutes)")
    tags = forms.CharField(required=False, max_length=6000, help_text="Comma-separated workflow tags (any of them); empty: every workflow, and alerts without one.")

    class Meta:
        model = Route
        fields = ["name", "channel", "severities", "rules", "tags", "repeat_interval_minutes",
                  "escalation_channel", "escalate_after_minutes", "enabled"]
        widgets = {"rules": forms.CheckboxSelectMultiple}
        help_texts = {"escalation_channel": "Where a critical alert nobody acknowledged goes next.",
                      "rules": "None ticked: alerts of every rule (and posted / Alertmanager alerts)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags or [])

    def clean_tags(self):
        tags = comma_list(self.cleaned_data.get("tags"))
        if len(tags) > 50 or any(len(tag) > 100 for tag in tags):
            raise forms.ValidationError("At most 50 tags of at most 100 characters.")
        return tags


class SilenceForm(forms.Form):
    """A silence: what it matches (every matcher given must match), when (once, or every week in
    a time zone), and why. Times are typed on the silence's own time zone's clock."""

    workflow = forms.ChoiceField(required=False)
    tag = forms.CharField(required=False, max_length=100)
    alert_type = forms.ChoiceField(choices=[("", "any")] + AlertType.choices, required=False, label="Alert type")
    severity = forms.ChoiceField(choices=[("", "any")] + AlertSeverity.choices, required=False)
    rule = forms.ChoiceField(required=False)
    labels = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="One name=value per line (Alertmanager labels).")
    mode = forms.ChoiceField(choices=[("once", "once"), ("weekly", "every week")], initial="once",
                             widget=forms.RadioSelect, label="Repeats")
    time_zone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Berlin")
    starts_at = forms.DateTimeField(widget=LOCAL_INPUT, label="From")
    ends_at = forms.DateTimeField(widget=LOCAL_INPUT, label="Until")
    weekdays = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, required=False,
                                             widget=forms.CheckboxSelectMultiple, label="On")
    daily_start = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                                  label="At")
    duration_minutes = forms.IntegerField(required=False, min_value=1, label="For (minutes)")
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    MATCHER_FIELDS = ("workflow", "tag", "alert_type", "severity", "rule", "labels")
    SCHEDULE_FIELDS = ("starts_at", "ends_at", "weekdays", "daily_start", "duration_minutes", "time_zone")

    def __init__(self, *args, team, workflows=(), rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        for name in ("weekdays", "daily_start", "duration_minutes"):
            self.fields[name].conditional = True  # needed with "every week": not marked optional
        self.fields["workflow"].choices = [("", "any")] + [(w.external_id, f"{w.name} ({w.external_id})") for w in workflows]
        self.fields["rule"].choices = [("", "any")] + [(str(r.pk), r.name) for r in rules]
        # A stored matcher for a workflow that has not reported yet stays choosable.
        current = self.data.get("workflow") if self.is_bound else self.initial.get("workflow")
        if current and current not in dict(self.fields["workflow"].choices):
            self.fields["workflow"].choices.append((current, current))
        if not self.is_bound and "starts_at" not in self.initial:
            now = timezone.now().replace(second=0, microsecond=0, tzinfo=None)
            self.initial.update(starts_at=now, ends_at=now + timedelta(hours=2))

    def matcher_fields(self):
        return [self[name] for name in self.MATCHER_FIELDS]

    def clean_labels(self):
        labels = {}
        for number, line in enumerate((self.cleaned_data.get("labels") or "").splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Line {number}: write name=value.")
            labels[name.strip()] = value.strip()
        return labels

    def clean(self):
        data = super().clean()
        if data.get("mode") == "weekly" and not data.get("weekdays"):
            self.add_error("weekdays", "Tick the days the window opens on.")
        return data

    def matchers(self):
        """The matchers typed, as alerts.silences.validate_matchers takes them."""
        d = self.cleaned_data
        out = {name: d[name] for name in self.MATCHER_FIELDS if d.get(name)}
        if "rule" in out:
            out["rule"] = int(out["rule"])
        return out

    def schedule(self):
        """The time fields as Silence fields; a one-off silence has no weekly window."""
        d = self.cleaned_data
        weekly = d.get("mode") == "weekly"
        return {"starts_at": d.get("starts_at"), "ends_at": d.get("ends_at"), "time_zone": d.get("time_zone") or "UTC",
                "weekdays": (d.get("weekdays") or []) if weekly else [],
                "daily_start": d.get("daily_start") if weekly else None,
                "duration_minutes": d.get("duration_minutes") if weekly else None}

    @staticmethod
    def window_text(silence):
        """A recurring silence's weekly window in words: "Sun at 02:00 for 120 min"."""
        days = ", ".join(dict(WEEKDAYS).get(d, str(d)) for d in silence.weekdays)
        at = f" at {silence.daily_start:%H:%M}" if silence.daily_start else ""
        return f"{days}{at} for {silence.duration_minutes} min"

    @classmethod
    def initial_from(cls, silence, tz):
        """The form's values for a stored silence, times on its own zone's clock."""
        matchers = dict(silence.matchers or {})
        initial = {name: matchers.get(name, "") for name in cls.MATCHER_FIELDS}
        initial["rule"] = str(matchers["rule"]) if "rule" in matchers else ""
        initial["labels"] = "\n".join(f"{k}={v}" for k, v in (matchers.get("labels") or {}).items())
        initial.update(
            mode="weekly" if silence.weekdays else "once", time_zone=silence.time_zone, comment=silence.comment,
            starts_at=timezone.localtime(silence.starts_at, tz).replace(tzinfo=None),
            ends_at=timezone.localtime(silence.ends_at, tz).replace(tzinfo=None),
            weekdays=silence.weekdays, daily_start=silence.daily_start, duration_minutes=silence.duration_minutes)
        return initial
