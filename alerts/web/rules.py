"""The Rules page: a team's alert rules, read-only for members and viewers; new / edit / delete
for its admins, validated by alerts.rules.registry.validate_rule before saving."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ..models import AlertRule
from ..rules import registry
from .common import add_validation_error, team_for_new, visible
from .rule_forms import RuleForm
from .views import delete_page, editable, list_page


@login_required
def rules(request):
    objects = list(visible(request, AlertRule.objects.select_related("team", "workflow"))
                   .prefetch_related("channels").order_by("team__slug", "name"))
    for rule in objects:
        rule.params_shown = [(name, json.dumps(value)) for name, value in sorted((rule.params or {}).items())]
    return list_page(request, "alerting/rules.html", objects)


def _rule_form(request, rule, team, teams=()):
    form = RuleForm(request.POST or None, instance=rule, team=team)
    if request.method == "POST" and form.is_valid():
        rule = form.save(commit=False)
        rule.team = team
        try:
            registry.validate_rule(rule)
        except ValidationError as e:
            add_validation_error(form, e)
        else:
            with transaction.atomic():
                rule.created_by = rule.created_by or request.user
                rule.save()
                form.save_m2m()
            messages.success(request, f"Saved rule “{rule.name}”.")
            return redirect("alerting:rules")
    return render(request, "alerting/form.html", {"form": form, "object": rule, "team": team, "teams": teams,
                                                  "what": "rule", "list_url": "alerting:rules"})


@login_required
def rule_new(request):
    team, teams = team_for_new(request)
    return _rule_form(request, AlertRule(team=team), team, teams)


@login_required
def rule_edit(request, pk):
    rule = editable(request, AlertRule.objects.select_related("team", "workflow"), pk)
    return _rule_form(request, rule, rule.team)


@login_required
@require_POST
def rule_delete(request, pk):
    return delete_page(request, AlertRule.objects.all(), pk, "alerting:rules")
