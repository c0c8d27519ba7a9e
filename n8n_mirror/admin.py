"""n8n instances in Django admin, for super admins only: an instance may read a database path or
host of the server, which a team admin must not choose. Secrets are write-only (shown masked),
the mirror's status is read-only, and "Sync now" runs a pass at once."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

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
    readonly_fields = ["masked_secrets", *STATUS_FIELDS]
    actions = ["sync_now"]

    def get_fields(self, request, obj=None):
        return ["team", "name", "kind", "api_url", "new_api_key", "new_database_url", "masked_secrets",
                "table_prefix", "enabled", "interval_seconds", *STATUS_FIELDS]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    @admin.display(description="secrets (masked)")
    def masked_secrets(self, obj):
        masked = obj.masked_secrets() if obj and obj.pk else {}
        return format_html_join("", "<div>{}: {}</div>", sorted(masked.items())) or "—"

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
