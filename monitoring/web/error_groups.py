"""The Errors pages by error group (docs/error-groups.md, docs/web-ui.md): the groups, newest
activity first, each with its counts, status and a sparkline of its last 24 hours; a group's own
page with its occurrences and the Resolve / Ignore / Reopen buttons (member role). The list of
every occurrence stays at /errors/all/ (monitoring.web.views.errors). Thin adapters over
monitoring.error_groups."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from .. import error_groups, queries
from ..access import RESPOND, principal_from_request
from ..models import ErrorGroupStatus
from .views import _back

GROUPS_PER_PAGE = 50
OCCURRENCES_PER_PAGE = 100
SPARK_W, SPARK_H = 120, 24


class GroupFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("open", "open"), ("regressed", "regressed"), ("resolved", "resolved"),
                                        ("ignored", "ignored"), ("any", "any")], required=False)
    workflow = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    q = forms.CharField(required=False, max_length=500, label="Search")

    def __init__(self, *args, workflows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "any")] + [(w.pk, w.name or w.external_id) for w in workflows]

    def filters(self):
        """What search_groups takes; open groups when nothing (or something invalid) is chosen."""
        d = self.cleaned_data if self.is_valid() else {}
        status = d.get("status") or "open"
        out = {"search": d.get("q") or None}
        if status == "regressed":
            out.update(status=[ErrorGroupStatus.OPEN], regressed=True)
        elif status != "any":
            out["status"] = [status]
        return out


def sparkline(counts):
    """Occurrences per hour as small inline SVG bars, oldest first (the current hour last)."""
    top = max(counts + [1])
    width = SPARK_W / max(len(counts), 1)
    last = len(counts) - 1

    def label(i, n):
        return f"{n} this hour" if i == last else f"{n} {last - i} h ago"

    rect = '<rect x="{}" y="{}" width="{}" height="{}" class="bar failed"><title>{}</title></rect>'
    bars = format_html_join("", rect, (
        (round(i * width, 1), round(SPARK_H - SPARK_H * n / top, 1), round(max(width - 1, 1), 1),
         round(SPARK_H * n / top, 1), label(i, n)) for i, n in enumerate(counts) if n))
    return format_html('<svg viewBox="0 0 {} {}" class="sparkline" width="{}" height="{}" role="img" '
                       'aria-label="{} occurrences in the last {} hours">{}</svg>',
                       SPARK_W, SPARK_H, SPARK_W, SPARK_H, sum(counts), len(counts), bars)


@login_required
def group_list(request):
    p = principal_from_request(request)
    visible = queries.visible_workflows(p).order_by("team__slug", "name")
    form = GroupFilterForm(request.GET or {"status": "open"}, workflows=visible)
    filters = form.filters()
    workflow = form.cleaned_data.get("workflow") if form.is_valid() else None
    groups_qs = error_groups.search_groups(p, workflows=visible.filter(pk=workflow) if workflow else None, **filters)
    page = Paginator(groups_qs, GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    groups = list(page.object_list)
    lines = error_groups.sparklines(groups)  # one query for the page
    for group in groups:
        group.sparkline = sparkline(lines[group.pk])
        group.can_respond = p.can(RESPOND, group.team_id)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "flowtower/errors.html", {"form": form, "groups": groups, "page": page,
                                                     "query": query.urlencode()})


def _group_or_404(request, pk):
    group = error_groups.visible_groups(principal_from_request(request)).filter(pk=pk).first()
    if group is None:
        raise Http404("Not found")
    return group


@login_required
def group_detail(request, pk):
    group = _group_or_404(request, pk)
    page = Paginator(error_groups.occurrences(group), OCCURRENCES_PER_PAGE).get_page(request.GET.get("page"))
    group.sparkline = sparkline(error_groups.sparklines([group])[group.pk])
    can_respond = principal_from_request(request).can(RESPOND, group.team_id)
    return render(request, "flowtower/error_group.html", {"group": group, "page": page, "errors": page.object_list,
                                                          "can_respond": can_respond})


@login_required
@require_POST
def group_action(request, pk, action):
    group = _group_or_404(request, pk)
    if action not in error_groups.ACTIONS:
        raise Http404("Not found")
    principal = principal_from_request(request)
    if not principal.can(RESPOND, group.team_id):
        raise PermissionDenied("Your role does not allow this; it needs member or admin.")
    if action == "resolve":
        error_groups.resolve_group(group, principal, notes=request.POST.get("notes", "")[:10_000])
    else:
        error_groups.ACTIONS[action](group, principal)
    return _back(request, reverse("web:error_group", args=[group.pk]))
