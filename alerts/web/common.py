"""What every alerting page shares: which teams the user sees and manages, and turning the
engine's validation errors into form errors. Access is monitoring.access's, as on the other pages:
another team's object is a 404, an action the role does not allow a 403."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from monitoring.access import MANAGE, READ, principal_from_request, scope

NOT_ADMIN = "Your role does not allow this; it needs the team's admin role."


def visible(request, queryset, action=READ):
    """The objects of the teams where the user may do `action` (reading by default)."""
    return scope(queryset, principal_from_request(request), action, team_field="team")


def visible_or_404(request, queryset, pk):
    obj = visible(request, queryset).filter(pk=pk).first()
    if obj is None:
        raise Http404("Not found")
    return obj


def can_manage(request, team_id) -> bool:
    return principal_from_request(request).can(MANAGE, team_id)


def require_manage(request, team_id):
    # A read-only role sees the page without forms; a POST it makes anyway is refused here.
    if not can_manage(request, team_id):
        raise PermissionDenied(NOT_ADMIN)


def managed_teams(request):
    return principal_from_request(request).teams(MANAGE).order_by("slug")


def team_for_new(request):
    """The team a new rule / channel / route / silence is for: ?team=<slug> among the teams the
    user manages, else the first of them. None of them: 403."""
    teams = list(managed_teams(request))
    if not teams:
        raise PermissionDenied(NOT_ADMIN)
    wanted = request.GET.get("team") or request.POST.get("team")
    return next((t for t in teams if t.slug == wanted), teams[0]), teams


def add_validation_error(form, error: ValidationError, field_names=None):
    """Show the engine's ValidationError on the form: on the field it names when the form has
    that field (or `field_names` maps it to one), else at the top of the form."""
    field_names = field_names or {}
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            target = field_names.get(name, name)
            form.add_error(target if target in form.fields else None,
                           [f"{name}: {m}" if target not in form.fields else m
                            for e in errors for m in e.messages])
    else:
        form.add_error(None, error.messages)

