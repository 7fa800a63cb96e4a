from django.contrib import admin, messages

from llmengine_site.models import ApiKey
from llmengine_site.services import api_key_create, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("key_hint", "name", "user_id", "team_id", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user_id", "team_id", "key_hint")
    readonly_fields = ("key_hint", "created_at", "last_used_at", "revoked_at")
    fields = ("name", "user_id", "team_id", "key_hint", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so last use and ownership stay on record

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("user_id", "team_id") if obj else ())

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_create(user_id=obj.user_id, team_id=obj.team_id, name=obj.name)
        obj.pk = key.pk
        self.message_user(
            request, f"New API key (copy it now, it is not shown again): {raw}", level=messages.WARNING
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
