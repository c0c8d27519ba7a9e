"""The team members' pages. Thin adapters: data from monitoring.queries / stats, changes through
monitoring.services, access from monitoring.access. Every page is scoped to the user's teams;
another team's object is a 404, an action the role does not allow a 403."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .. import node_stats, queries, services, stats, time_saved
from ..access import RESPOND, principal_from_request, scope, team_id_of
from ..models import Execution, ExecutionLog
from ..serializers import serialize_many
from . import charts
from .forms import AlertFilterForm, ErrorFilterForm, LogFilterForm, PeriodForm, ResolveForm, TimeSavedForm

PAGE_SIZE = 100
WORKFLOWS_PER_PAGE = 100


def _get_or_404(queryset, **lookup):
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise Http404("Not found")
    return obj


@login_required
def overview(request):
    period = PeriodForm(request.GET).chosen()
    data = stats.overview(principal_from_request(request), period)
    # The page lists recent logs only (and the cards the counts and health); the executions'
    # counts come with the chart's read, as the cards show them.
    summary = queries.dashboard(principal_from_request(request), None, data["start"], data["end"], recent=("logs",),
                                executions=data["counts"])
    # The navigation's badge shows the cards' count (navigation() then does not count again).
    context = {"stats": data, "summary": summary, "charts": charts.overview_charts(data),
               "periods": list(stats.PERIODS), "period": period, "unacknowledged_alerts": data["unacknowledged_alerts"],
               "time_saved": time_saved.time_saved(queries.visible_workflows(principal_from_request(request)),
                                                   data["start"])}
    if request.GET.get("partial") == "cards":
        return render(request, "flowtower/_overview_cards.html", context)
    return render(request, "flowtower/overview.html", context)


@login_required
def workflows(request):
    """The visible workflows, WORKFLOWS_PER_PAGE a page: a page's figures cost the same however
    many workflows the teams have (each row's 7 days are read from the rollups)."""
    visible = queries.visible_workflows(principal_from_request(request)).order_by("team__slug", "name", "pk")
    page = Paginator(visible, WORKFLOWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = stats.workflow_rows(principal_from_request(request), page.object_list)
    return render(request, "flowtower/workflows.html", {"rows": rows, "page": page})


@login_required
def workflow_detail(request, pk):
    workflow = _get_or_404(queries.visible_workflows(principal_from_request(request)), pk=pk)
    return _workflow_page(request, workflow)


def _workflow_page(request, workflow, time_saved_form=None, status=200):
    """The workflow's page; `time_saved_form` a rejected estimate, shown with its errors."""
    executions = list(
        Execution.objects.filter(workflow=workflow).select_related("workflow__team").order_by("-started_at")[:20]
    )
    latest = executions[0] if executions else None
    context = {"workflow": workflow, "live": queries.live_status(workflow), "latest": latest}
    if request.GET.get("partial") == "live":
        return render(request, "flowtower/_live_status.html", context)
    context.update(executions=executions, nodes=stats.node_timings(latest) if latest else [],
                   node_stats=node_stats.node_stats(workflow), time_saved=time_saved.for_workflow(workflow),
                   time_saved_form=time_saved_form or TimeSavedForm(
                       initial={"minutes_saved_per_run": workflow.minutes_saved_per_run}),
                   can_estimate=principal_from_request(request).can(RESPOND, workflow.team_id))
    return render(request, "flowtower/workflow_detail.html", context, status=status)


@login_required
@require_POST
def set_time_saved(request, pk):
    """Set or clear the workflow's minutes saved per run: members and admins of its team."""
    workflow = _get_or_404(queries.visible_workflows(principal_from_request(request)), pk=pk)
    if not principal_from_request(request).can(RESPOND, workflow.team_id):
        raise PermissionDenied("Your role does not allow this; it needs member or admin.")
    form = TimeSavedForm(request.POST)
    if not form.clearing() and not form.is_valid():
        return _workflow_page(request, workflow, time_saved_form=form, status=400)
    time_saved.set_estimate(workflow, form.estimate())
    return redirect("web:workflow", pk=workflow.pk)


@login_required
def execution_detail(request, pk):
    execution = _get_or_404(
        scope(Execution.objects.select_related("workflow__team", "retry_of"), principal_from_request(request)), pk=pk
    )
    logs = serialize_many("log", ExecutionLog.objects.filter(execution=execution)
                          .select_related("workflow__team", "execution").order_by("timestamp", "step_number"))
    try:
        performance = execution.performance
    except Execution.performance.RelatedObjectDoesNotExist:
        performance = None
    return render(request, "flowtower/execution_detail.html", {
        "execution": execution,
        "logs": logs,
        "errors": execution.errors.order_by("timestamp"),
        "performance": performance,
        "can_respond": principal_from_request(request).can(RESPOND, execution.workflow.team_id),
    })


@login_required
def logs(request):
    p = principal_from_request(request)
    visible = queries.visible_workflows(p).order_by("team__slug", "name")
    form = LogFilterForm(request.GET or None, workflows=visible)
    filters, workflow = {}, None
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        if d.get("workflow"):
            workflow = _get_or_404(visible, pk=d["workflow"])
        filters = {"execution_id": d.get("execution") or None, "levels": d.get("levels") or None,
                   "start": d.get("start"), "end": d.get("end"), "text": d.get("q") or None}
    rows = serialize_many("log", queries.records("logs", p, [workflow] if workflow else None, **filters)[:PAGE_SIZE])
    return render(request, "flowtower/logs.html", {"form": form, "logs": rows, "page_size": PAGE_SIZE,
                                                   "workflow": workflow})


def _record_list(request, kind, form_class, template=None):
    """The errors or alerts page: open ones by default, each marked with whether this user may
    resolve / acknowledge it (the buttons show only then)."""
    p = principal_from_request(request)
    form = form_class(request.GET or {"resolved": "false"})
    rows = list(queries.records(kind, p, **form.filters())[:PAGE_SIZE])
    for row in rows:
        row.can_respond = p.can(RESPOND, team_id_of(row))
    return render(request, template or f"flowtower/{kind}.html", {"form": form, kind: rows})


@login_required
def errors(request):
    """Every occurrence, one card each ("All occurrences"; the Errors page lists them by group:
    monitoring.web.error_groups)."""
    return _record_list(request, "errors", ErrorFilterForm, template="flowtower/error_occurrences.html")


@login_required
def alerts(request):
    return _record_list(request, "alerts", AlertFilterForm)


def _respondable(request, kind, pk):
    """The error or alert, if the user may see it (else 404) and respond to it (else 403)."""
    obj = _get_or_404(queries.records(kind, principal_from_request(request)), pk=pk)
    if not principal_from_request(request).can(RESPOND, team_id_of(obj)):
        raise PermissionDenied("Your role does not allow this; it needs member or admin.")
    return obj


def _back(request, fallback):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


@login_required
@require_POST
def resolve_error(request, pk):
    error = _respondable(request, "errors", pk)
    form = ResolveForm(request.POST)
    notes = form.cleaned_data["notes"] if form.is_valid() else ""
    services.resolve_error(error, principal_from_request(request), resolved=request.POST.get("reopen") != "1", notes=notes)
    return _back(request, reverse("web:errors"))


ALERT_ACTIONS = {"acknowledge": {"acknowledged": True}, "resolve": {"resolved": True}, "reopen": {"resolved": False}}


@login_required
@require_POST
def alert_action(request, pk, action):
    changes = ALERT_ACTIONS.get(action)
    if changes is None:
        raise Http404("Unknown action")
    alert = _respondable(request, "alerts", pk)
    services.update_alert(alert, principal_from_request(request), notes=request.POST.get("notes", "")[:10_000], **changes)
    return _back(request, reverse("web:alerts"))


@login_required
def nav_counts(request):
    """The navigation's badge, refreshed by the live script after alert events."""
    return JsonResponse({"unacknowledged_alerts": stats.unacknowledged_alerts(principal_from_request(request))})


def navigation(request):
    """Context processor: the count of unacknowledged alerts in the navigation. Counted only when
    the template shows it and the page has not counted it already (the overview's context)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(("/admin/", "/api/")):
        return {}
    count = SimpleLazyObject(lambda: stats.unacknowledged_alerts(principal_from_request(request)))
    return {"unacknowledged_alerts": count}


