"""The n8n page: a team's n8n instances and where each mirror stands (last success, last error,
lag, executions mirrored, data n8n keeps elsewhere), as on the Channels page: every member reads,
the team's admins add, edit, enable or disable, delete and "Sync now"; another team's instance is
a 404, an action the role does not allow a 403. Team admins connect n8n through its API only:
a database instance (a path or host on the server) is shown here but changed by super admins,
in Django admin or with `manage.py add_n8n_instance`. Team admins also make an instance's hook
token (any kind of instance: the token is the team's, not a server file), shown once."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from monitoring.access import MANAGE, READ, principal_from_request, scope

from ..hook_tokens import hook_environment, new_hook_token
from ..models import N8nInstance
from ..sync import sync_instance
from .forms import ApiInstanceForm

NOT_ADMIN = "Your role does not allow this; it needs the team's admin role."
DATABASE_FOR_SUPER_ADMINS = ("A database instance reads a path or host of the server: super admins change it in "
                             "Django admin or with manage.py add_n8n_instance.")


def _visible(request, queryset=None):
    queryset = N8nInstance.objects.select_related("team") if queryset is None else queryset
    return scope(queryset, principal_from_request(request), READ, team_field="team")


def _can_change(request, instance):
    """Team admins change API instances; a database instance only a super admin."""
    principal = principal_from_request(request)
    if instance.kind == N8nInstance.Kind.DATABASE and not principal.is_superuser:
        return False
    return principal.can(MANAGE, instance.team_id)


def _changeable(request, pk):
    """The instance to change: visible to the user (else 404) and theirs to change (else 403)."""
    instance = _visible(request).filter(pk=pk).first()
    if instance is None:
        raise Http404("Not found")
    if not _can_change(request, instance):
        raise PermissionDenied(DATABASE_FOR_SUPER_ADMINS if principal_from_request(request).can(
            MANAGE, instance.team_id) else NOT_ADMIN)
    return instance


def _managed(request, pk):
    """An instance of a team the user administers: visible (else 404) and the team's admin (else
    403), whatever its kind."""
    instance = _visible(request).filter(pk=pk).first()
    if instance is None:
        raise Http404("Not found")
    if not principal_from_request(request).can(MANAGE, instance.team_id):
        raise PermissionDenied(NOT_ADMIN)
    return instance


def database_location(url):
    """Where a database instance reads, for super admins: the file path, or the URL's host and
    database without its user and password."""
    parts = urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:  # a path (C:\\… on Windows)
        return url
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def lag_text(lag):
    """A lag as a person reads it: "42 s", "7 min", "3 h 5 min", "2 d 4 h"; "" before the first."""
    if lag is None:
        return ""
    seconds = max(0, int(lag.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _managed_teams(request):
    return principal_from_request(request).teams(MANAGE).order_by("slug")


@login_required
def instances(request):
    principal = principal_from_request(request)
    objects = list(_visible(request).select_related("hook_token").order_by("team__slug", "name"))
    for instance in objects:
        instance.can_change = _can_change(request, instance)
        instance.can_make_hook_token = principal.can(MANAGE, instance.team_id)
        instance.lag_text = lag_text(instance.lag)
        instance.masked_key = instance.masked_secrets().get("api_key", "")
        if principal.is_superuser and instance.kind == N8nInstance.Kind.DATABASE:
            instance.database_location = database_location(instance.get_secrets().get("database_url", ""))
    return render(request, "n8n_mirror/instances.html", {
        "objects": objects, "can_create": _managed_teams(request).exists(),
        "show_database": principal.is_superuser})


def _instance_form(request, instance, teams=()):
    masked_key = instance.masked_secrets().get("api_key", "") if instance.pk else ""
    initial = {"name": instance.name, "api_url": instance.api_url, "enabled": instance.enabled,
               "interval_seconds": instance.interval_seconds} if instance.pk else None
    form = ApiInstanceForm(request.POST or None, masked_key=masked_key, initial=initial)
    if request.method == "POST" and form.is_valid() and _save(form, instance):
        messages.success(request, f"Saved n8n instance “{instance.name}”.")
        return redirect("n8n:instances")
    return render(request, "n8n_mirror/instance_form.html", {
        "form": form, "object": instance, "team": instance.team, "teams": teams, "what": "n8n instance",
        "list_url": "n8n:instances"})


def _save(form, instance):
    """Store the API instance (a blank key keeps the stored one). False: the error is on the form."""
    data = form.cleaned_data
    instance.kind = N8nInstance.Kind.API
    instance.name, instance.api_url = data["name"], data["api_url"]
    instance.enabled, instance.interval_seconds = data["enabled"], data["interval_seconds"]
    if data["api_key"]:
        instance.set_secrets(api_key=data["api_key"])
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        form.add_error("name", "The team already has an n8n instance with this name.")
        return False
    return True


@login_required
def instance_new(request):
    teams = list(_managed_teams(request))
    if not teams:
        raise PermissionDenied(NOT_ADMIN)
    wanted = request.GET.get("team") or request.POST.get("team")
    team = next((t for t in teams if t.slug == wanted), teams[0])
    return _instance_form(request, N8nInstance(team=team, kind=N8nInstance.Kind.API), teams)


@login_required
def instance_edit(request, pk):
    instance = _changeable(request, pk)
    if instance.kind == N8nInstance.Kind.DATABASE:
        raise PermissionDenied(DATABASE_FOR_SUPER_ADMINS)  # not even a super admin: its form is Django admin's
    return _instance_form(request, instance)


@login_required
@require_POST
def instance_enable(request, pk):
    """Switch the instance's sync on or off (the beat skips a disabled instance)."""
    instance = _changeable(request, pk)
    instance.enabled = not instance.enabled
    instance.save(update_fields=["enabled", "updated_at"])
    messages.success(request, f"“{instance.name}” is {'enabled' if instance.enabled else 'disabled'}.")
    return redirect("n8n:instances")


@login_required
@require_POST
def instance_delete(request, pk):
    """Forget the instance; what it mirrored stays in Flowtower (its own retention applies)."""
    instance = _changeable(request, pk)
    name = instance.name
    instance.delete()
    messages.success(request, f"Deleted n8n instance “{name}”.")
    return redirect("n8n:instances")


@login_required
@require_POST
def instance_sync(request, pk):
    """Run one sync pass now (what the beat runs) and say how it went."""
    instance = _changeable(request, pk)
    result = sync_instance(instance)
    if result.error:
        messages.error(request, f"Sync of “{instance.name}” failed: {result.error[:500]}")
    else:
        messages.success(request, f"Synced “{instance.name}”: {result.workflows} workflows, "
                                  f"{result.executions} executions read.")
    return redirect("n8n:instances")


@login_required
@require_POST
@never_cache
def instance_hook_token(request, pk):
    """A new hook token for the instance (the previous one is revoked): the only token its hook
    endpoint takes. Shown once, in this answer, with the rest of n8n's environment; a reload
    would POST again and make another."""
    instance = _managed(request, pk)
    replaced = instance.hook_token_id is not None
    raw = new_hook_token(instance, created_by=request.user)
    return render(request, "n8n_mirror/hook_token.html", {
        "object": instance, "lines": hook_environment(instance, raw), "replaced": replaced})
