"""Django admin: the super admins' home, and a scoped view for team members who sign in.

Who may do what comes from monitoring.access (team memberships), never from Django's model
permissions: users created by `add_member` are staff without any. Per model (TeamScopedAdmin):
- view: anyone with a role in the object's team (READ);
- change / add / delete: the access action named by change_action / add_action / delete_action,
  None meaning super admins only.
Errors, alerts, executions and workflows change through monitoring.services, so the events and
audit entries are the same as for the REST API.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from . import services, time_saved
from .access import INGEST, MANAGE, READ, RESPOND, principal_from_request, scope
from .deduplication import posted_fingerprint
from .models import (
    Alert,
    AlertStatus,
    Execution,
    ExecutionLog,
    IdempotencyKey,
    Membership,
    PerformanceMetric,
    RetentionRun,
    ServiceToken,
    Team,
    Workflow,
    WorkflowError,
)


def scoped(request, queryset, action, team_field):
    """`queryset` limited to the teams where the request's user may do `action`."""
    principal = principal_from_request(request)
    if principal.is_superuser:
        return queryset
    if action is None or team_field is None:
        return queryset.none()
    return scope(queryset, principal, action, team_field)


# Foreign keys whose choice lists must only offer the user's teams, and how each reaches its team.
SCOPED_FOREIGN_KEYS = {Team: "pk", Workflow: "team", Execution: "workflow__team"}


class TeamFilter(admin.SimpleListFilter):
    """Filter by team, offering only the user's teams (a related-field filter would list them all,
    and a related-only one scans the whole record table for distinct values)."""

    title = "team"
    parameter_name = "team"

    def __init__(self, request, params, model, model_admin):
        self.team_field = model_admin.team_field
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(t.pk, str(t)) for t in principal_from_request(request).teams(READ)]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.team_field: self.value()}) if self.value() else queryset


def shortened(field, length=80):
    @admin.display(description=field.replace("_", " "), ordering=field)
    def show(model_admin, obj):
        text = getattr(obj, field)
        return text if len(text) <= length else text[:length] + "…"

    return show


class TeamScopedAdmin(admin.ModelAdmin):
    team_field = "workflow__team"  # how an object reaches its team; None: super admins only
    change_action = None
    add_action = None
    delete_action = None
    # Fields a non-super admin may edit (None: every field); the rest are shown read-only.
    team_editable = None
    # Fields changed through monitoring.services (see apply_service) instead of a plain save.
    service_fields = ()
    # What apply_service's events serialize besides the row.
    service_related = ("workflow__team",)
    show_full_result_count = False  # spares a count(*) over the whole table on every page

    # -- permissions ------------------------------------------------------------------------------
    def team_id_of(self, request, obj):
        hops = self.team_field.split("__")
        if hops == ["pk"]:
            return obj.pk
        if len(hops) == 1:
            return getattr(obj, f"{hops[0]}_id")
        # e.g. workflow__team: remember each workflow's team for the request, since a deletion
        # page checks every cascaded row and those rows come without their workflow loaded.
        memo = request.__dict__.setdefault("_flowtower_team_of", {})
        key = (hops[0], getattr(obj, f"{hops[0]}_id"))
        if key not in memo:
            target = obj
            for hop in hops[:-1]:
                target = getattr(target, hop)
            memo[key] = getattr(target, f"{hops[-1]}_id")
        return memo[key]

    def allowed(self, request, action, obj=None):
        principal = principal_from_request(request)
        if principal.is_superuser:
            return True
        if action is None or self.team_field is None:
            return False
        ids = principal.team_ids(action)
        return bool(ids) if obj is None else self.team_id_of(request, obj) in ids

    def has_module_permission(self, request):
        return self.allowed(request, READ)

    def has_view_permission(self, request, obj=None):
        return self.allowed(request, READ, obj)

    def has_change_permission(self, request, obj=None):
        return self.allowed(request, self.change_action, obj)

    def has_add_permission(self, request):
        return self.allowed(request, self.add_action)

    def has_delete_permission(self, request, obj=None):
        return self.allowed(request, self.delete_action, obj)

    # -- what is shown ----------------------------------------------------------------------------
    def get_queryset(self, request):
        return scoped(request, super().get_queryset(request), READ, self.team_field)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        path = SCOPED_FOREIGN_KEYS.get(db_field.related_model)
        if path is not None:
            action = self.change_action or self.add_action
            kwargs["queryset"] = scoped(request, db_field.related_model._default_manager.all(), action, path)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self.team_editable is not None and not principal_from_request(request).is_superuser:
            readonly += [f.name for f in self.model._meta.fields
                         if f.editable and f.name not in self.team_editable and f.name not in readonly]
        return readonly

    # -- writes -----------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        # The choice lists already refuse other teams; this is the last word before writing, and
        # also covers a change of team to one where the user is not an admin.
        if not self.allowed(request, self.change_action if change else self.add_action, obj):
            raise PermissionDenied
        self.persist(request, obj, form, change)

    def persist(self, request, obj, form, change):
        if not (change and self.service_fields):
            return super().save_model(request, obj, form, change)
        # Services compare with the stored state ("acknowledge unless already acknowledged"), so
        # they get a fresh copy, not `obj`, which the form has already changed.
        fresh = self.model._default_manager.select_related(*self.service_related).get(pk=obj.pk)
        plain = [name for name in form.changed_data if name not in self.service_fields]
        for name in plain:
            setattr(fresh, name, getattr(obj, name))
        if plain:
            fresh.save(update_fields=plain)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in self.service_fields}
        if changes:
            self.apply_service(principal_from_request(request), fresh, changes)

    def apply_service(self, principal, obj, changes):
        raise NotImplementedError

    def delete_queryset(self, request, queryset):
        # Bulk actions get the changelist's (readable) rows; delete only those the user manages.
        super().delete_queryset(request, scoped(request, queryset, self.delete_action, self.team_field))

    def run_action(self, request, queryset, action, change, verb):
        """Apply `change` to each selected object in a team where the user may do `action`: one
        may read a team's rows while responding only in another."""
        objs = list(scoped(request, queryset, action, self.team_field).select_related(*self.list_select_related))
        for obj in objs:
            change(obj)
        self.message_user(request, f"{verb} {len(objs)} {self.model._meta.verbose_name_plural}.", messages.SUCCESS)


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    team_field = "pk"
    change_action = MANAGE
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = True


class UsernameField(forms.ModelChoiceField):
    """An existing account named by its exact username, typed in a text box. An unknown name
    gets "No such user." and nothing else, whatever teams the account may be in elsewhere."""

    widget = forms.TextInput
    default_error_messages = {"invalid_choice": "No such user."}

    def __init__(self):
        super().__init__(queryset=get_user_model()._default_manager.all(), to_field_name="username",
                         label="Username", help_text="The exact username of an existing account.")


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    team_field = "team"
    change_action = add_action = delete_action = MANAGE
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", TeamFilter]
    search_fields = ["user__username", "user__email", "team__slug", "team__name"]
    list_select_related = ["team", "user"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A list of every account would show a team admin the usernames of every other team:
        # they name the person to add instead. Super admins keep the full list.
        if db_field.name == "user" and not principal_from_request(request).is_superuser:
            return UsernameField()
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # A membership's person is fixed once added (a text box cannot show a chosen user);
        # changing it is removing one membership and adding another.
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and not principal_from_request(request).is_superuser:
            readonly = [*readonly, "user"]
        return readonly


@admin.register(ServiceToken)
class ServiceTokenAdmin(TeamScopedAdmin):
    team_field = "team"
    change_action = add_action = delete_action = MANAGE
    # token_hash is never listed in fields, so it is shown nowhere.
    fields = ["team", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_display = ["name", "team", "prefix", "is_active", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [TeamFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "team__slug"]
    list_select_related = ["team", "created_by"]
    date_hierarchy = "created_at"
    actions = ["revoke"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    def get_readonly_fields(self, request, obj=None):
        # Moving a token would hand its access to another team: issue a new one instead.
        readonly = super().get_readonly_fields(request, obj)
        return readonly + ["team"] if obj is not None else readonly

    def persist(self, request, obj, form, change):
        if change:
            return super().persist(request, obj, form, change)
        token, raw = ServiceToken.issue(obj.team, obj.name, created_by=request.user)
        # The admin carries on with `obj` (log entry, redirect): make it the issued token.
        for f in ServiceToken._meta.concrete_fields:
            setattr(obj, f.attname, getattr(token, f.attname))
        obj._state.adding = False
        messages.success(request, f"Token for {token.team}: {raw} — copy it now, it will not be shown again.")

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        def revoke_one(token):
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])  # a save, not update(): the audit trail sees it

        self.run_action(request, queryset.filter(revoked_at__isnull=True), MANAGE, revoke_one, "Revoked")


@admin.register(Workflow)
class WorkflowAdmin(TeamScopedAdmin):
    team_field = "team"
    change_action = add_action = delete_action = MANAGE
    # A change of these is a "workflow" event (the alerting engine's "deactivated" rule hears it).
    service_fields = services.WORKFLOW_FIELDS
    service_related = ("team",)
    list_display = ["external_id", "name", "team", "source", "active", "created_at", "updated_at"]
    list_filter = [TeamFilter, "active", "source"]
    search_fields = ["external_id", "name", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"

    def apply_service(self, principal, obj, changes):
        services.update_workflow(obj, changes)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # The time saved estimate within the bounds the pages and the API keep.
        if db_field.name == "minutes_saved_per_run":
            return time_saved.estimate_form_field(label="Minutes saved per successful run")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Execution)
class ExecutionAdmin(TeamScopedAdmin):
    change_action, delete_action = INGEST, MANAGE
    team_editable = service_fields = ("state", "mode", "current_step", "step_number", "total_steps",
                                      "stopped_at", "duration_ms")
    list_display = ["external_id", "workflow", "workflow__team", "state", "mode", "started_at", "duration_ms",
                    "current_step"]
    list_filter = ["state", TeamFilter, "mode"]
    search_fields = ["external_id", "workflow__external_id", "workflow__name"]
    list_select_related = ["workflow__team"]
    raw_id_fields = ["workflow", "retry_of"]
    readonly_fields = ["last_activity_at"]
    date_hierarchy = "started_at"

    def apply_service(self, principal, obj, changes):
        services.update_execution(obj, changes)


class RecordAdmin(TeamScopedAdmin):
    """Logs, errors, performance and alerts are data: only super admins add or edit them; team
    admins may delete them (deleting a workflow cascades to them)."""

    delete_action = MANAGE
    team_editable = ()
    list_select_related = ["workflow__team", "execution__workflow"]
    raw_id_fields = ["workflow", "execution"]
    date_hierarchy = "timestamp"


@admin.register(ExecutionLog)
class ExecutionLogAdmin(RecordAdmin):
    message_short = shortened("message")
    list_display = ["timestamp", "log_level", "message_short", "node_name", "workflow", "workflow__team", "execution"]
    list_filter = ["log_level", TeamFilter]
    search_fields = ["message", "node_name", "workflow__external_id", "execution__external_id"]


@admin.register(WorkflowError)
class WorkflowErrorAdmin(RecordAdmin):
    change_action = RESPOND
    team_editable = service_fields = ("resolved", "resolution_notes")
    readonly_fields = ["resolved_at", "resolved_by"]  # set by services.resolve_error
    error_message_short = shortened("error_message")
    list_display = ["timestamp", "severity", "error_type", "error_message_short", "workflow", "workflow__team",
                    "execution", "resolved", "resolved_by"]
    list_filter = ["resolved", "severity", "error_type", TeamFilter]
    search_fields = ["error_message", "error_code", "node_name", "workflow__external_id", "execution__external_id"]
    actions = ["resolve"]

    def apply_service(self, principal, obj, changes):
        services.resolve_error(obj, principal, resolved=changes.get("resolved", obj.resolved),
                               notes=changes.get("resolution_notes", ""))

    @admin.action(description="Resolve selected errors", permissions=["change"])
    def resolve(self, request, queryset):
        principal = principal_from_request(request)
        self.run_action(request, queryset.filter(resolved=False), RESPOND,
                        lambda error: services.resolve_error(error, principal), "Resolved")


@admin.register(PerformanceMetric)
class PerformanceMetricAdmin(RecordAdmin):
    list_display = ["timestamp", "execution", "workflow__team", "total_duration", "node_count", "failed_nodes",
                    "memory_peak", "cpu_peak", "throughput"]
    list_filter = [TeamFilter]
    search_fields = ["workflow__external_id", "execution__external_id"]


class AlertStatusFilter(admin.SimpleListFilter):
    """Firing (not resolved) or resolved, as the API's ?status= says it."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return AlertStatus.choices

    def queryset(self, request, queryset):
        if self.value() in AlertStatus.values:
            return queryset.filter(resolved=self.value() == AlertStatus.RESOLVED)
        return queryset


class AlertForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        team, workflow = data.get("team"), data.get("workflow")
        if team is not None and workflow is not None and workflow.team_id != team.pk:
            self.add_error("workflow", "This workflow belongs to another team than the alert.")
        return data


@admin.register(Alert)
class AlertAdmin(RecordAdmin):
    form = AlertForm
    team_field = "team"  # its own: an alert from Alertmanager may name no workflow
    change_action = RESPOND
    team_editable = service_fields = ("acknowledged", "resolved", "resolution_notes")
    service_related = ("team", "workflow", "execution")
    # Set by services and the alerting engine, not by hand.
    readonly_fields = ["acknowledged_by", "acknowledged_at", "resolved_at", "resolved_by", "fingerprint", "source",
                       "occurrences", "last_seen_at", "silenced", "inhibited"]
    list_display = ["timestamp", "severity", "alert_type", "title", "team", "workflow", "status", "occurrences",
                    "last_seen_at", "source", "acknowledged", "silenced"]
    list_filter = [AlertStatusFilter, "acknowledged", "severity", "alert_type", "source", "silenced", "inhibited",
                   TeamFilter]
    list_select_related = ["team", "workflow", "execution__workflow"]
    search_fields = ["title", "description", "fingerprint", "workflow__external_id", "execution__external_id"]
    actions = ["acknowledge", "resolve"]

    @admin.display(description="status", ordering="resolved")
    def status(self, obj):
        return obj.status.label

    def persist(self, request, obj, form, change):
        if change:
            return super().persist(request, obj, form, change)
        # A new alert is deduplicated like any other: a repeat of an open one counts it.
        alert, _ = services.raise_alert(
            obj.team, fingerprint=posted_fingerprint(obj.workflow.external_id if obj.workflow else "", obj.alert_type,
                                                     obj.title),
            alert_type=obj.alert_type, severity=obj.severity, title=obj.title, description=obj.description,
            workflow=obj.workflow, execution=obj.execution, metadata=obj.metadata, at=obj.timestamp,
        )
        # The admin carries on with `obj` (log entry, redirect): make it the stored alert.
        for f in Alert._meta.concrete_fields:
            setattr(obj, f.attname, getattr(alert, f.attname))
        obj._state.adding = False

    def apply_service(self, principal, obj, changes):
        services.update_alert(obj, principal, acknowledged=changes.get("acknowledged"),
                              resolved=changes.get("resolved"), notes=changes.get("resolution_notes", ""))

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        principal = principal_from_request(request)
        self.run_action(request, queryset.filter(acknowledged=False), RESPOND,
                        lambda alert: services.update_alert(alert, principal, acknowledged=True), "Acknowledged")

    @admin.action(description="Resolve selected alerts", permissions=["change"])
    def resolve(self, request, queryset):
        principal = principal_from_request(request)
        self.run_action(request, queryset.filter(resolved=False), RESPOND,
                        lambda alert: services.update_alert(alert, principal, resolved=True), "Resolved")


@admin.register(RetentionRun)
class RetentionRunAdmin(TeamScopedAdmin):
    team_field = None  # not a team's: super admins only
    list_display = ["started_at", "finished_at", "trigger", "actor", "dry_run", "deleted"]
    list_filter = ["trigger", "dry_run"]
    search_fields = ["actor"]
    date_hierarchy = "started_at"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(TeamScopedAdmin):
    """Stored replies to retried POSTs: super admins may look, nobody edits (they expire)."""

    team_field = None
    list_display = ["principal", "key", "status_code", "created_at"]
    search_fields = ["principal", "key"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from . import admin_error_groups  # noqa: E402,F401  registers ErrorGroup (its own module: this one is near 500 lines)
