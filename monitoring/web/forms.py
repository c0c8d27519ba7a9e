"""Filter and action forms of the web UI. Bad filter values show as form errors, never a 500."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join

from ..models import AlertSeverity, AlertType, ErrorSeverity, ErrorType, LogLevel
from ..stats import PERIODS
from ..time_saved import estimate_form_field

BOOL_CHOICES = [("", "any"), ("false", "no"), ("true", "yes")]


def _bool(value):
    return {"true": True, "false": False}.get(value)


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=[(p, p) for p in PERIODS], required=False)

    def chosen(self):
        return (self.cleaned_data.get("period") if self.is_valid() else None) or "24h"


class ManyOptionsSelect(forms.Select):
    """A select rendered in one pass of format_html, for a list as long as a large team's
    workflows: Django's Select renders a template per option (1,000 workflows: 30–100 ms of the
    logs page's time, docs/benchmarks.md). Same markup: name, id, the chosen option selected."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = "" if value is None else str(value)
        options = format_html_join("", '<option value="{}"{}>{}</option>', (
            (key, " selected" if str(key) == chosen else "", label) for key, label in self.choices))
        return format_html("<select name=\"{}\"{}>{}</select>", name, flatatt(self.build_attrs(self.attrs, attrs)),
                           options)


class LogFilterForm(forms.Form):
    workflow = forms.ChoiceField(required=False, widget=ManyOptionsSelect)
    execution = forms.CharField(required=False, max_length=255)
    levels = forms.MultipleChoiceField(choices=LogLevel.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)
    start = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, max_length=500, label="Text")

    def __init__(self, *args, workflows=None, **kwargs):
        """`workflows`: a queryset of the workflows one may pick (only their ids and names are read)."""
        super().__init__(*args, **kwargs)
        rows = workflows.values_list("pk", "name", "external_id", "team__slug") if workflows is not None else []
        self.fields["workflow"].choices = [("", "all workflows")] + [
            (str(pk), f"{name or external_id} ({team})") for pk, name, external_id, team in rows]


class _RecordFilterForm(forms.Form):
    """Severity, type and state filters of the errors and alerts lists, as queries.records takes them."""

    type_field = None

    def filters(self):
        if not self.is_valid():
            return {}
        d = self.cleaned_data
        out = {"severities": [d["severity"]] if d.get("severity") else None,
               "types": [d[self.type_field]] if d.get(self.type_field) else None}
        for flag in ("acknowledged", "resolved"):
            if flag in self.fields:
                out[flag] = _bool(d.get(flag))
        return out


class ErrorFilterForm(_RecordFilterForm):
    type_field = "error_type"
    severity = forms.ChoiceField(choices=[("", "any")] + ErrorSeverity.choices, required=False)
    error_type = forms.ChoiceField(choices=[("", "any")] + ErrorType.choices, required=False, label="Type")
    resolved = forms.ChoiceField(choices=BOOL_CHOICES, required=False)


class AlertFilterForm(_RecordFilterForm):
    type_field = "alert_type"
    severity = forms.ChoiceField(choices=[("", "any")] + AlertSeverity.choices, required=False)
    alert_type = forms.ChoiceField(choices=[("", "any")] + AlertType.choices, required=False, label="Type")
    acknowledged = forms.ChoiceField(choices=BOOL_CHOICES, required=False)
    resolved = forms.ChoiceField(choices=BOOL_CHOICES, required=False)


class ResolveForm(forms.Form):
    notes = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))


class TimeSavedForm(forms.Form):
    """A workflow's minutes saved per successful run; empty (or the clear button) removes it."""

    minutes_saved_per_run = estimate_form_field(label="Minutes saved per successful run")

    def clearing(self):
        """The clear button was pressed: whatever the field holds, the estimate goes."""
        return "clear" in self.data

    def estimate(self):
        """The estimate to store (after is_valid, unless clearing): None when cleared."""
        return None if self.clearing() else self.cleaned_data.get("minutes_saved_per_run")
