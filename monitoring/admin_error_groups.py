"""Django admin for error groups (docs/error-groups.md): read-mostly. Groups are made and counted
by ingestion; people resolve, ignore or reopen them, here through the same functions as the REST
API and the web UI (monitoring.error_groups), so the events and audit entries are the same.
Registered from monitoring.admin."""

from django.contrib import admin

from . import error_groups
from .access import MANAGE, RESPOND, principal_from_request
from .admin import TeamFilter, TeamScopedAdmin
from .models import ErrorGroup


@admin.register(ErrorGroup)
class ErrorGroupAdmin(TeamScopedAdmin):
    team_field = "team"
    delete_action = MANAGE  # as records: team admins delete a workflow with its groups
    list_display = ["title", "workflow", "team", "node_name", "error_type", "occurrences", "affected_executions",
                    "status", "regressed", "first_seen", "last_seen"]
    list_filter = ["status", "regressed", "error_type", TeamFilter]
    search_fields = ["title", "node_name", "error_code", "fingerprint", "workflow__external_id"]
    list_select_related = ["workflow", "team"]
    date_hierarchy = "last_seen"
    actions = ["resolve", "ignore", "reopen"]

    def get_actions(self, request):
        # No bulk delete: deleting a group deletes its occurrences.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_change_permission(self, request, obj=None):
        # The change page is read-only; the actions are the changes, and they check RESPOND.
        return self.allowed(request, RESPOND, obj)

    def _act(self, request, queryset, name, verb):
        principal = principal_from_request(request)
        action = error_groups.ACTIONS[name]
        self.run_action(request, queryset, RESPOND, lambda group: action(group, principal), verb)

    @admin.action(description="Resolve selected error groups (and their open occurrences)", permissions=["change"])
    def resolve(self, request, queryset):
        self._act(request, queryset, "resolve", "Resolved")

    @admin.action(description="Ignore selected error groups", permissions=["change"])
    def ignore(self, request, queryset):
        self._act(request, queryset, "ignore", "Ignored")

    @admin.action(description="Reopen selected error groups", permissions=["change"])
    def reopen(self, request, queryset):
        self._act(request, queryset, "reopen", "Reopened")
