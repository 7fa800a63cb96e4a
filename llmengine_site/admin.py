"""Operator console for API keys, and the console's admin site.

A key is issued and revoked through `llmengine_site.services` only. The raw key is shown once,
on the page that answers the creation (never stored, never put in a message or session); keys
are revoked, not deleted, so their owner and last use stay on record.
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from llmengine_site.console_links import console_url
from llmengine_site.models import ApiKey
from llmengine_site.services import api_key_create, api_key_revoke

REVOKE_PERMISSION = "llmengine_site.change_apikey"


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "active"), ("revoked", "revoked"))

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyCreateForm(forms.ModelForm):
    team_id = forms.CharField(max_length=255, required=False, help_text="Leave empty to use the user id as the team.")

    class Meta:
        model = ApiKey
        fields = ("name", "user_id", "team_id")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyCreateForm
    change_form_template = "admin/llmengine_site/apikey/change_form.html"
    list_display = ("key_hint", "name", "user_id", "team_id", "state", "created_at", "last_used_at", "team_endpoints")
    list_filter = (KeyStateFilter, "team_id")
    search_fields = ("name", "user_id", "team_id", "key_hint")
    readonly_fields = ("key_hint", "state", "created_at", "last_used_at", "revoked_at", "team_endpoints")
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "user_id", "team_id")
        return ("key_hint", "name", "user_id", "team_id", "state", "created_at", "last_used_at", "revoked_at",
                "team_endpoints")

    # ------------------------------------------------------------------ permissions

    def has_change_permission(self, request, obj=None):
        return False  # a key's identity never changes; revoke it and issue another

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so last use and ownership stay on record

    def has_revoke_permission(self, request, obj=None):
        return request.user.has_perm(REVOKE_PERMISSION)

    # ------------------------------------------------------------------ columns

    @admin.display(description="state", ordering="revoked_at")
    def state(self, key):
        return "revoked" if key.revoked_at else "active"

    @admin.display(description="team's endpoints")
    def team_endpoints(self, key):
        url = reverse("admin:endpoints_modelendpoint_changelist") + "?" + urlencode({"owner": key.team_id})
        return format_html('<a href="{}">endpoints of {}</a>', url, key.team_id)

    # ------------------------------------------------------------------ create: the key is shown once

    def save_model(self, request, obj, form, change):
        """Issue the key through the service; the form's instance takes the stored row's values
        (for the admin log) and carries the raw key to `response_add` only."""
        key, raw_key = api_key_create(user_id=obj.user_id, team_id=obj.team_id, name=obj.name)
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        obj.raw_key_shown_once = raw_key

    def response_add(self, request, obj, post_url_continue=None):
        context = {**self.admin_site.each_context(request), "opts": self.opts, "key": obj,
                   "raw_key": obj.raw_key_shown_once, "title": "API key created"}
        # admin_view already marks the answer never_cache, so no proxy keeps the key.
        return TemplateResponse(request, "admin/llmengine_site/apikey/created.html", context)

    # ------------------------------------------------------------------ revoke

    def get_urls(self):
        revoke = self.admin_site.admin_view(require_POST(self.revoke_view))
        return [path("<path:object_id>/revoke/", revoke, name="llmengine_site_apikey_revoke")] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"can_revoke": self.has_revoke_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def revoke_view(self, request, object_id):
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        key = get_object_or_404(ApiKey, pk=unquote(object_id))
        api_key_revoke(key)
        self.log_change(request, key, "revoked")
        self.message_user(request, f"Key {key.key_hint}… revoked; it stops working at once.", messages.SUCCESS)
        return HttpResponseRedirect(console_url(key))

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        for key in queryset:
            api_key_revoke(key)
            self.log_change(request, key, "revoked")
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
