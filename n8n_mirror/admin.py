"""n8n instances in Django admin, for super admins only: an instance may read a database path or
host of the server, which a team admin must not choose. Secrets are write-only (shown masked),
the mirror's status is read-only, and "Sync now" runs a pass at once. "New hook token" replaces an
instance's hook token (the old one is revoked) and shows the new one once."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

from . import hook_tokens
from .models import N8nInstance
from .sync import sync_instance

STATUS_FIELDS = ["cursor", "unfinished_ids", "last_run_at", "last_success_at", "last_error", "last_error_at",
                 "failing_since", "executions_mirrored", "newest_execution_at", "lag", "data_unavailable_count",
                 "data_unavailable_note", "created_at", "updated_at"]


class N8nInstanceForm(forms.ModelForm):
    # Write-only: empty keeps what is stored.
    new_api_key = forms.CharField(required=False, widget=forms.PasswordInput, label="API key",
                                  help_text="Leave empty to keep the stored key.")
    new_database_url = forms.CharField(required=False, widget=forms.PasswordInput, label="Database",
                                       help_text="SQLite file path or postgres:// URL, read-only. "
                                                 "Leave empty to keep the stored one.")

    class Meta:
        model = N8nInstance
        fields = ["team", "name", "kind", "api_url", "table_prefix", "enabled", "interval_seconds"]

    def clean(self):
        data = super().clean()
        instance = self.instance
        stored = instance.get_secrets() if instance.pk else {}
        if data.get("kind") == N8nInstance.Kind.API and not (data.get("new_api_key") or stored.get("api_key")):
            self.add_error("new_api_key", "An API instance needs an API key.")
        if data.get("kind") == N8nInstance.Kind.API and not data.get("api_url"):
            self.add_error("api_url", "An API instance needs n8n's address.")
        if data.get("kind") == N8nInstance.Kind.DATABASE and not (data.get("new_database_url")
                                                                 or stored.get("database_url")):
            self.add_error("new_database_url", "A database instance needs its database.")
        return data


@admin.register(N8nInstance)
class N8nInstanceAdmin(admin.ModelAdmin):
    form = N8nInstanceForm
    list_display = ["name", "team", "kind", "enabled", "last_success_at", "last_error_at", "executions_mirrored"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team"]
    readonly_fields = ["masked_secrets", "hook_token_status", *STATUS_FIELDS]
    actions = ["sync_now", "make_hook_token"]

    def get_fields(self, request, obj=None):
        return ["team", "name", "kind", "api_url", "new_api_key", "new_database_url", "masked_secrets",
                "table_prefix", "enabled", "interval_seconds", "hook_token_status", *STATUS_FIELDS]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    @admin.display(description="secrets (masked)")
    def masked_secrets(self, obj):
        masked = obj.masked_secrets() if obj and obj.pk else {}
        return format_html_join("", "<div>{}: {}</div>", sorted(masked.items())) or "—"

    @admin.display(description="hook token")
    def hook_token_status(self, obj):
        """Which token n8n's hook uses (its prefix) and when it last posted; never the token."""
        token = obj.hook_token if obj and obj.pk else None
        if token is None:
            return "— (none: the action \"New hook token\" makes one)"
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        revoked = f", revoked {token.revoked_at.isoformat(timespec='seconds')}" if token.revoked_at else ""
        return f"{token.prefix}… (last used {used}{revoked})"

    @admin.display(description="lag")
    def lag(self, obj):
        return obj.lag or "—"

    def save_model(self, request, obj, form, change):
        given = {"api_key": form.cleaned_data.get("new_api_key"),
                 "database_url": form.cleaned_data.get("new_database_url")}
        obj.set_secrets(**{name: value for name, value in given.items() if value})  # empty keeps the stored one
        super().save_model(request, obj, form, change)

    @admin.action(description="Sync now")
    def sync_now(self, request, queryset):
        for instance in queryset.select_related("team"):
            result = sync_instance(instance)
            if result.error:
                self.message_user(request, f"{instance}: {result.error}", messages.ERROR)
            else:
                self.message_user(request, f"{instance}: {result.executions} executions read.", messages.SUCCESS)

    @admin.action(description="New hook token (revokes the old one; shown once)")
    def make_hook_token(self, request, queryset):
        """The only token each instance's hook endpoint takes; the raw value is shown only in this
        message (only its hash is stored)."""
        for instance in queryset.select_related("team"):
            raw = hook_tokens.new_hook_token(instance, created_by=request.user)
            self.message_user(request, f"{instance}: new hook token, shown only now (the previous one is revoked). "
                                       "In n8n's environment: " + "   ".join(hook_tokens.hook_environment(instance, raw)),
                              messages.WARNING)
