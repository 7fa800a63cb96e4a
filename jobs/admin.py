"""Operator console for files, fine-tunes, templates, batch jobs, bundles and triggers.
Actions call the same services as the API; rows that own cloud resources (stored bytes,
Kubernetes Jobs, CronJobs and credentials) are never bulk-deleted behind the services' back.
Pages where nothing can be edited open as "View …" without save buttons, and every action is
recorded in the admin's log (docs/console.md#recent-actions)."""
import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from endpoints.admin import endpoint_link
from endpoints.models import ModelEndpoint
from jobs import events, storage
from jobs.choices import ACTIVE_STATUSES, JobKind, JobStatus
from jobs.models import BatchJob, DockerImageBatchJobBundle, File, FineTune, FineTuneTemplate, JobEvent, Trigger
from jobs.services import files, fine_tunes, runs, triggers
from jobs.services.templates import TEMPLATE_FIELDS, template_errors
from llmengine_site.console_links import console_url
from llmengine_site.redaction import redact_credentials


def _redacted_json(value) -> str:
    """Tenant JSON with credentials (a wandb api_key...) shown as "set", never their value."""
    return format_html("<pre>{}</pre>", json.dumps(redact_credentials(value), indent=2, sort_keys=True))


class NoBulkDelete:
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ViewOnlyPage:
    """The change permission runs the list's actions; no single row is edited in a form, so its
    page opens as "View …" with no save buttons."""

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        # "Select … to change" would promise a form: the list is for finding and acting.
        context = {"title": self.opts.verbose_name_plural[:1].upper() + self.opts.verbose_name_plural[1:]}
        return super().changelist_view(request, {**context, **(extra_context or {})})


@admin.register(File)
class FileAdmin(NoBulkDelete, ViewOnlyPage, admin.ModelAdmin):
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
            self.log_deletions(request, [file])  # before the row goes: the log keeps its id and name
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


def job_progress(job: BatchJob) -> str:
    """One line on how far a job is: the runner's counts when it reports them, else how long it
    has run (against its limit) or ran."""
    progress = job.progress or {}
    if progress.get("total"):
        failed = f", {progress['num_failed']} failed" if progress.get("num_failed") else ""
        return f"{progress.get('num_completed', 0)} of {progress['total']} done{failed}"
    if job.status == JobStatus.PENDING:
        return "waiting to start" if job.launched_at is None else "starting"
    if job.launched_at is None:
        return "never started"
    if job.status == JobStatus.RUNNING:
        limit = timesince(job.launched_at, job.launched_at + timedelta(seconds=job.max_runtime_seconds))
        return f"running for {timesince(job.launched_at)} (limit {limit})"
    if job.completed_at:
        return f"ran {timesince(job.launched_at, job.completed_at)}"
    return ""


def _job_events(job: BatchJob):
    """Status transitions, then (once launched) the log and the Kubernetes events."""
    rows = events.fine_tune_events(job)
    if not rows:
        return "—"
    return format_html_join("\n", '<div class="llme-event llme-event-{}">[{}] {}</div>',
                            ((e["level"], e["level"], e["message"]) for e in rows[-200:]))


class JobActions:
    """Cancel from the list and from the job's page, through the API's service, logged."""

    @admin.display(description="status", ordering="status")
    def status_badge(self, job):
        return format_html('<span class="llme-status llme-status-{}">{}</span>', job.status, job.status)

    cancel_service = staticmethod(runs.job_cancel)
    change_form_template = "admin/jobs/job_change_form.html"

    def _cancel(self, request, job) -> str:
        """Cancel one job; what happened, as the log and the message say it ("" if nothing)."""
        was_active = job.status in ACTIVE_STATUSES
        if not self.cancel_service(job):
            return ""
        job.refresh_from_db()
        done = "cancelled" if was_active else "cancelled after it finished: Kubernetes objects removed"
        if was_active or job.kind == JobKind.FINE_TUNE:
            self.log_change(request, job, done)
            return done
        return ""

    def get_urls(self):
        opts = self.opts
        cancel = self.admin_site.admin_view(require_POST(self.cancel_view))
        return [path("<path:object_id>/cancel/", cancel, name=f"{opts.app_label}_{opts.model_name}_cancel")] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        context = {"can_cancel": bool(job) and self.has_change_permission(request) and self._cancellable(job),
                   "cancel_url": f"admin:{self.opts.app_label}_{self.opts.model_name}_cancel"}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def _cancellable(self, job) -> bool:
        return job.status in ACTIVE_STATUSES

    def cancel_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=unquote(object_id))
        done = self._cancel(request, job)
        if done:
            self.message_user(request, f"{job.id}: {done}", messages.SUCCESS)
        else:
            self.message_user(request, f"{job.id}: not cancelled: it is {job.status}", messages.WARNING)
        return HttpResponseRedirect(console_url(job))


@admin.register(BatchJob)
class BatchJobAdmin(JobActions, NoBulkDelete, ViewOnlyPage, admin.ModelAdmin):
    """Batch completions and docker-image batch jobs; fine-tunes have a page of their own."""

    list_display = ("id", "kind", "status_badge", "progress_text", "owner", "gpu_type", "created_at")
    list_filter = ("kind", "status", "gpu_type", "owner")
    search_fields = ("id", "owner", "created_by")
    actions = ["cancel_jobs"]
    # What an operator looks for first (status, why, how far), then when, then what it runs.
    fieldsets = (
        (None, {"fields": ("id", "kind", "status", "status_reason", "progress_text", "owner", "created_by")}),
        ("Timeline", {"fields": ("created_at", "launched_at", "completed_at", "reaped_at", "expires_at")}),
        ("What it runs", {"fields": ("image", "command", "env", "config", "mount_location", "bundle", "trigger",
                                     "input_data_path", "output_data_path", "model_config", "priority", "labels",
                                     "annotations", "num_workers", "max_runtime_seconds")}),
        ("Resources per worker", {"fields": ("cpus", "memory", "storage", "gpus", "gpu_type")}),
        ("Events (status, log, Kubernetes)", {"fields": ("job_events",)}),
    )
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(kind=JobKind.FINE_TUNE)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if FineTune.objects.filter(pk=unquote(object_id)).exists():  # old links: the fine-tune's own page
            return HttpResponseRedirect(reverse("admin:jobs_finetune_change", args=[object_id]))
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="job config")
    def config(self, obj):
        return _redacted_json(obj.job_config)

    @admin.display(description="progress")
    def progress_text(self, obj):
        return job_progress(obj)

    @admin.display(description="Events (status, log, Kubernetes)")
    def job_events(self, obj):
        return _job_events(obj)

    @admin.action(description="Cancel the selected jobs (deletes their Kubernetes Jobs)", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        cancelled = sum(1 for job in queryset if self._cancel(request, job))
        self.message_user(request, f"Cancelled {cancelled} job(s); finished jobs are left as they are.")


@admin.register(FineTune)
class FineTuneAdmin(JobActions, NoBulkDelete, ViewOnlyPage, admin.ModelAdmin):
    """Fine-tunes: status, base model, progress, events, the endpoint each produced; operators
    cancel them as the API does (docs/console.md#pages)."""

    cancel_service = staticmethod(fine_tunes.fine_tune_cancel)
    list_display = ("id", "status_badge", "fine_tuned_model", "base_model", "progress_text", "owner", "endpoint")
    list_filter = ("status", "template__base_model", "owner")
    search_fields = ("id", "fine_tuned_model", "owner", "created_by")
    list_select_related = ("template",)
    actions = ["cancel_fine_tunes"]
    fieldsets = (
        (None, {"fields": ("id", "status", "status_reason", "fine_tuned_model", "base_model", "progress_text",
                           "endpoint", "owner", "created_by")}),
        ("Timeline", {"fields": ("created_at", "launched_at", "completed_at", "cancel_requested_at", "reaped_at")}),
        ("Training", {"fields": ("output_location", "image", "command", "config", "cpus", "memory", "storage",
                                 "gpus", "gpu_type", "max_runtime_seconds")}),
        ("Events (status, log, Kubernetes)", {"fields": ("job_events",)}),
    )
    readonly_fields = ("id", "status", "status_reason", "fine_tuned_model", "base_model", "progress_text", "endpoint",
                       "owner", "created_by", "created_at", "launched_at", "completed_at", "cancel_requested_at",
                       "reaped_at", "output_location", "image", "command", "config", "cpus", "memory", "storage",
                       "gpus", "gpu_type", "max_runtime_seconds", "job_events")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _cancellable(self, job) -> bool:
        return job.cancel_requested_at is None  # a finished one still has Kubernetes objects to remove

    def get_changelist_instance(self, request):
        """The endpoints the page's fine-tunes produced, in one query."""
        changelist = super().get_changelist_instance(request)
        changelist.result_list = list(changelist.result_list)
        ids = {job.served_endpoint_id for job in changelist.result_list if job.served_endpoint_id}
        found = {endpoint.pk: endpoint for endpoint in ModelEndpoint.objects.filter(pk__in=ids).only("id", "name")}
        for job in changelist.result_list:
            job.served_endpoint = found.get(job.served_endpoint_id)
        return changelist

    @admin.display(description="base model", ordering="template__base_model")
    def base_model(self, obj):
        return obj.template.base_model if obj.template else (obj.job_config or {}).get("base_model", "")

    @admin.display(description="progress")
    def progress_text(self, obj):
        return job_progress(obj)

    @admin.display(description="endpoint")
    def endpoint(self, obj):
        """The endpoint serving the result: a link, or why there is none."""
        if obj.served_endpoint_id == "-":
            return "could not be created (see the reason)"
        if not obj.served_endpoint_id:
            return "—"
        endpoint = getattr(obj, "served_endpoint", False)
        if endpoint is False:
            endpoint = ModelEndpoint.objects.filter(pk=obj.served_endpoint_id).only("id", "name").first()
        return endpoint_link(endpoint) if endpoint else f"{obj.served_endpoint_id} (deleted)"

    @admin.display(description="job config")
    def config(self, obj):
        return _redacted_json(obj.job_config)

    @admin.display(description="events")
    def job_events(self, obj):
        return _job_events(obj)

    @admin.action(description="Cancel the selected fine-tunes (as the API does)", permissions=["change"])
    def cancel_fine_tunes(self, request, queryset):
        cancelled = sum(1 for job in queryset if job.cancel_requested_at is None and self._cancel(request, job))
        self.message_user(request, f"Cancelled {cancelled} fine-tune(s); their rows and events stay here.")


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
class DockerImageBatchJobBundleAdmin(ViewOnlyPage, admin.ModelAdmin):
    """Bundles are versions created through the API, which checks their resources and owner; a
    new version is a new bundle, so the console shows them and edits none."""

    list_display = ("name", "id", "image_repository", "image_tag", "owner", "public", "created_at")
    list_filter = ("public",)
    search_fields = ("name", "id", "owner")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.opts.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # jobs and triggers keep referring to the version they ran


@admin.register(Trigger)
class TriggerAdmin(NoBulkDelete, ViewOnlyPage, admin.ModelAdmin):
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
            self.log_change(request, trigger, "suspended")

    @admin.action(description="Resume the selected triggers", permissions=["change"])
    def resume_triggers(self, request, queryset):
        for trigger in queryset:
            triggers.trigger_update(trigger, suspend=False)
            self.log_change(request, trigger, "resumed")

    @admin.action(description="Delete the selected triggers (revokes their credentials, removes their CronJobs)", permissions=["change"])
    def delete_triggers(self, request, queryset):
        for trigger in queryset:
            self.log_deletions(request, [trigger])  # before the row goes: the log keeps its id and name
            triggers.trigger_delete(trigger)

    def delete_model(self, request, obj):
        triggers.trigger_delete(obj)
