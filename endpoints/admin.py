"""Operator console for endpoints and bundles. Actions call the same services as the API."""
from django.contrib import admin, messages

from endpoints import services
from endpoints.models import EndpointEvent, ModelBundle, ModelEndpoint, ModelRepository, RecommendedHardware


class EndpointEventInline(admin.TabularInline):
    model = EndpointEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "old_status", "new_status", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "endpoint_type", "inference_framework", "owner", "min_workers",
                    "max_workers", "gpus", "gpu_type", "last_updated_at")
    list_filter = ("status", "endpoint_type", "inference_framework", "is_llm", "gpu_type", "owner")
    search_fields = ("name", "id", "owner", "created_by", "model_name")
    list_select_related = ("bundle",)
    inlines = [EndpointEventInline]
    actions = ["rebuild", "delete_endpoints"]
    readonly_fields = ("id", "status", "status_reason", "destination", "spec_version", "synced_version",
                       "creation_task_id", "created_at", "last_updated_at", "created_by", "owner", "bundle")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # rows own cloud resources: delete through the service
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Rebuild the selected endpoints")
    def rebuild(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_rebuild(endpoint)
        self.message_user(request, f"Rebuild queued for {queryset.count()} endpoint(s).")

    @admin.action(description="Delete the selected endpoints (tears down their resources)")
    def delete_endpoints(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint)
        self.message_user(request, f"Deletion queued for {queryset.count()} endpoint(s).", level=messages.WARNING)


@admin.register(ModelBundle)
class ModelBundleAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "flavor", "owner", "created_at")
    list_filter = ("flavor",)
    search_fields = ("name", "id", "owner")
    readonly_fields = ("id", "created_at")


@admin.register(RecommendedHardware)
class RecommendedHardwareAdmin(admin.ModelAdmin):
    list_display = ("model_name", "gpu_memory_le", "gpus", "gpu_type", "cpus", "memory", "storage", "nodes_per_worker")
    search_fields = ("model_name",)


@admin.register(ModelRepository)
class ModelRepositoryAdmin(admin.ModelAdmin):
    list_display = ("model_name", "hf_repo", "max_total_tokens")
    search_fields = ("model_name", "hf_repo")
