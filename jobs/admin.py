"""Operator console for files, fine-tunes, templates, batch jobs, bundles and triggers.
Actions call the same services as the API; rows that own cloud resources (stored bytes,
Kubernetes Jobs, CronJobs and credentials) are never bulk-deleted behind the services' back."""
import json

from django import forms
from django.contrib import admin, messages
from django.http import FileResponse
from django.utils.html import format_html, format_html_join

from jobs import events, storage
from jobs.models import BatchJob, DockerImageBatchJobBundle, File, FineTuneTemplate, JobEvent, Trigger
from jobs.services import files, runs, triggers
from jobs.services.templates import TEMPLATE_FIELDS, template_errors
from llmengine_site.redaction import redact_credentials


def _redacted_json(value) -> str:
    """Tenant JSON with credentials (a wandb api_key...) shown as "set", never their value."""
    return format_html("<pre>{}</pre>", json.dumps(redact_credentials(value), indent=2, sort_keys=True))


class NoBulkDelete:
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(File)
class FileAdmin(NoBulkDelete, admin.ModelAdmin):
    list_display = ("id", "filename", "size", "owner", "created_at")
    search_fields = ("id", "filename", "owner", "created_by")
    readonly_fields = ("id", "filename", "size", "storage_key", "content_type", "owner", "created_by", "created_at")
    actions = ["download", "delete_files"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Download the selected file (select one)", permissions=["change"])
    def download(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one file to download.", level=messages.WARNING)
            return None
        file = queryset.get()
        return FileResponse(storage.open_file(file.storage_key), as_attachment=True, filename=file.filename)

    @admin.action(description="Delete the selected files and their stored content", permissions=["change"])
    def delete_files(self, request, queryset):
        count = 0
        for file in queryset:
            files.file_delete(file)
            count += 1
        self.message_user(request, f"Deleted {count} file(s).")

    def delete_model(self, request, obj):
        files.file_delete(obj)


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "old_status", "new_status", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BatchJob)
class BatchJobAdmin(NoBulkDelete, admin.ModelAdmin):
    list_display = ("id", "kind", "status", "owner", "fine_tuned_model", "gpus", "gpu_type", "created_at", "completed_at")
    list_filter = ("kind", "status", "gpu_type", "owner")
    search_fields = ("id", "owner", "created_by", "fine_tuned_model")
    inlines = [JobEventInline]
    actions = ["cancel_jobs"]
    exclude = ("final_events", "job_config")
    readonly_fields = [field.name for field in BatchJob._meta.fields
                       if field.name not in ("final_events", "job_config")] + ["config", "job_events"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="job config")
    def config(self, obj):
        return _redacted_json(obj.job_config)

    @admin.display(description="Events (status, log, Kubernetes)")
    def job_events(self, obj):
        rows = events.fine_tune_events(obj) if obj.launched_at else []
        if not rows:
            return "—"
        return format_html_join("\n", "<div>[{}] {}</div>", ((e["level"], e["message"]) for e in rows[-200:]))

    @admin.action(description="Cancel the selected jobs (deletes their Kubernetes Jobs)", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        cancelled = sum(1 for job in queryset if runs.job_cancel(job))
        self.message_user(request, f"Cancelled {cancelled} job(s); finished jobs are left as they are.")


class FineTuneTemplateForm(forms.ModelForm):
    class Meta:
        model = FineTuneTemplate
        fields = TEMPLATE_FIELDS

    def clean(self):
        values = super().clean()
        for field, message in template_errors({**{f: getattr(self.instance, f) for f in TEMPLATE_FIELDS}, **values}).items():
            self.add_error(field if field in self.fields else None, message)
        return values


@admin.register(FineTuneTemplate)
class FineTuneTemplateAdmin(admin.ModelAdmin):
    form = FineTuneTemplateForm
    list_display = ("base_model", "enabled", "image_repository", "image_tag", "gpus", "gpu_type", "serve_framework", "updated_at")
    list_filter = ("enabled", "gpu_type", "serve_framework")
    search_fields = ("base_model", "image_repository")


@admin.register(DockerImageBatchJobBundle)
class DockerImageBatchJobBundleAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "image_repository", "image_tag", "owner", "public", "created_at")
    list_filter = ("public",)
    search_fields = ("name", "id", "owner")
    readonly_fields = ("id", "created_at")


@admin.register(Trigger)
class TriggerAdmin(NoBulkDelete, admin.ModelAdmin):
    list_display = ("name", "id", "cron_schedule", "suspend", "owner", "synced", "created_at")
    list_filter = ("suspend", "owner")
    search_fields = ("name", "id", "owner")
    readonly_fields = ("id", "name", "owner", "created_by", "created_at", "bundle", "cron_schedule", "suspend",
                       "job_config", "default_job_metadata", "api_key", "spec_version", "synced_version", "sync_error")
    exclude = ("default_job_config",)
    actions = ["suspend_triggers", "resume_triggers", "delete_triggers"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="default job config")
    def job_config(self, obj):
        return _redacted_json(obj.default_job_config)

    @admin.display(boolean=True)
    def synced(self, obj):
        return obj.synced_version >= obj.spec_version

    @admin.action(description="Suspend the selected triggers", permissions=["change"])
    def suspend_triggers(self, request, queryset):
        for trigger in queryset:
            triggers.trigger_update(trigger, suspend=True)

    @admin.action(description="Resume the selected triggers", permissions=["change"])
    def resume_triggers(self, request, queryset):
        for trigger in queryset:
            triggers.trigger_update(trigger, suspend=False)

    @admin.action(description="Delete the selected triggers (revokes their credentials, removes their CronJobs)", permissions=["change"])
    def delete_triggers(self, request, queryset):
        for trigger in queryset:
            triggers.trigger_delete(trigger)

    def delete_model(self, request, obj):
        triggers.trigger_delete(obj)
