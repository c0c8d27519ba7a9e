"""Filter and action forms of the web UI. Bad filter values show as form errors, never a 500."""

from django import forms

from ..models import AlertSeverity, AlertType, ErrorSeverity, ErrorType, LogLevel
from ..stats import PERIODS

BOOL_CHOICES = [("", "any"), ("false", "no"), ("true", "yes")]


def _bool(value):
    return {"true": True, "false": False}.get(value)


class PeriodForm(forms.Form):
    period = forms.ChoiceField(choices=[(p, p) for p in PERIODS], required=False)

    def chosen(self):
        return (self.cleaned_data.get("period") if self.is_valid() else None) or "24h"


class LogFilterForm(forms.Form):
    workflow = forms.ChoiceField(required=False)
    execution = forms.CharField(required=False, max_length=255)
    levels = forms.MultipleChoiceField(choices=LogLevel.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple)
    start = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, max_length=500, label="Text")

    def __init__(self, *args, workflows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "all workflows")] + [(str(w.pk), f"{w} ({w.team.slug})") for w in workflows]


class ErrorFilterForm(forms.Form):
    severity = forms.ChoiceField(choices=[("", "any")] + ErrorSeverity.choices, required=False)
    error_type = forms.ChoiceField(choices=[("", "any")] + ErrorType.choices, required=False, label="Type")
    resolved = forms.ChoiceField(choices=BOOL_CHOICES, required=False, initial="false")

    def filters(self):
        if not self.is_valid():
            return {}
        d = self.cleaned_data
        return {"severities": [d["severity"]] if d.get("severity") else None,
                "types": [d["error_type"]] if d.get("error_type") else None,
                "resolved": _bool(d.get("resolved"))}


class AlertFilterForm(forms.Form):
    severity = forms.ChoiceField(choices=[("", "any")] + AlertSeverity.choices, required=False)
    alert_type = forms.ChoiceField(choices=[("", "any")] + AlertType.choices, required=False, label="Type")
    acknowledged = forms.ChoiceField(choices=BOOL_CHOICES, required=False)
    resolved = forms.ChoiceField(choices=BOOL_CHOICES, required=False, initial="false")

    def filters(self):
        if not self.is_valid():
            return {}
        d = self.cleaned_data
        return {"severities": [d["severity"]] if d.get("severity") else None,
                "types": [d["alert_type"]] if d.get("alert_type") else None,
                "acknowledged": _bool(d.get("acknowledged")), "resolved": _bool(d.get("resolved"))}


class ResolveForm(forms.Form):
    notes = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))
