"""The alert rule form. The kinds' params are a JSON object; the help under it lists what each
kind takes, from the kind modules' own descriptions. Whether params, scope, severity and "for"
are acceptable is alerts.rules.registry.validate_rule's decision, shown at these fields."""

import inspect

from django import forms
from django.utils.html import format_html, format_html_join

from monitoring.models import Workflow

from ..models import AlertRule, Channel, RuleKind
from ..rules import registry
from .forms import TeamScopedForm

SCOPES = [("all", "all the team's workflows"), ("workflow", "one workflow"), ("tag", "workflows with a tag")]


def kind_choices():
    """The registered kinds, with the names people read."""
    labels = dict(RuleKind.choices)
    return [(name, labels.get(name, name)) for name in registry.KINDS]


def params_help():
    """What each kind's params are: the first paragraph of its module's description."""
    rows = []
    for name, label in kind_choices():
        text = " ".join((inspect.getmodule(registry.get_kind(name)).__doc__ or "").split("\n\n")[0].split())
        heading, sep, rest = text.partition(": ")
        rows.append((label, name, rest if sep and len(heading) < 60 else text))  # without the repeated name
    return format_html(
        'A JSON object; {{}} for none or the defaults. Per kind:<ul class="kinds-help">{}</ul>',
        format_html_join("", "<li><strong>{}</strong> <code>{}</code>: {}</li>", rows))


class RuleForm(TeamScopedForm):
    kind = forms.ChoiceField(choices=kind_choices)
    scope = forms.ChoiceField(choices=SCOPES, initial="all", widget=forms.RadioSelect, label="Covers")
    params = forms.JSONField(required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 3}),
                             label="Parameters")

    class Meta:
        model = AlertRule
        fields = ["name", "kind", "scope", "workflow", "tag", "severity", "for_seconds", "auto_resolve", "enabled",
                  "params", "channels"]
        widgets = {"channels": forms.CheckboxSelectMultiple}
        labels = {"for_seconds": "For (seconds)", "auto_resolve": "Resolve by itself when the condition clears"}
        help_texts = {"workflow": "With “one workflow”.", "tag": "With “workflows with a tag”.",
                      "for_seconds": "How long the condition must hold before the alert fires; 0: at once.",
                      "auto_resolve": ""}

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, team=team, **kwargs)
        self.fields["workflow"].queryset = Workflow.objects.filter(team=team).order_by("name")
        self.fields["channels"].queryset = Channel.objects.filter(team=team).order_by("name")
        self.fields["params"].help_text = params_help()
        rule = self.instance
        if rule.pk:
            self.initial["scope"] = "workflow" if rule.workflow_id else "tag" if rule.tag else "all"

    def clean(self):
        """Keep only what the chosen scope uses, and ask for it when it is missing."""
        data = super().clean()
        scope = data.get("scope")
        if scope != "workflow":
            data["workflow"] = None
        elif not data.get("workflow"):
            self.add_error("workflow", "Choose the workflow.")
        if scope != "tag":
            data["tag"] = ""
        elif not data.get("tag"):
            self.add_error("tag", "Give the tag.")
        if data.get("params") is None:
            data["params"] = {}
        return data
