"""Operator console for endpoints, their events, bundles and the reference tables.

The admin never writes endpoint rows itself (docs/design.md#the-admin): the endpoint page is read-only and
its actions call the services the API calls. Who may run them:
- `endpoints.change_modelendpoint` ("operate"): rebuild, restart, scale;
- `endpoints.delete_modelendpoint` ("teardown"): delete (the builder removes the resources).
Domain and infrastructure errors are shown as messages, never as a server error.
"""
import yaml
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from endpoints import admin_queries, infra_state, services
from endpoints.builder import endpoint_spec, preview_queue_url
from endpoints.choices import EndpointStatus, EndpointType
from endpoints.manifests import render_endpoint
from endpoints.models import EndpointEvent, ModelBundle, ModelEndpoint, ModelRepository, RecommendedHardware
from endpoints.resources import check_gpu_type_mapped, validate_resources
from llmengine_site.console_links import console_url
from llmengine_site.errors import DomainError, InvalidRequest
from llmengine_site.redaction import redact_secret_objects

OPERATE_PERMISSION = "endpoints.change_modelendpoint"
SHORT_REASON_LENGTH = 60
TEARDOWN_PERMISSION = "endpoints.delete_modelendpoint"


def endpoint_link(endpoint: ModelEndpoint) -> str:
    return format_html('<a href="{}">{}</a>', console_url(endpoint), endpoint.name)


def short_text(text: str, length: int = SHORT_REASON_LENGTH) -> str:
    """A reason as a list shows it: its start, with the whole text as the tooltip (the detail page
    shows it in full; docs/console.md#layout)."""
    if len(text) <= length:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[:length - 1].rstrip())


def rendered_manifests(endpoint: ModelEndpoint) -> tuple[str, str]:
    """(YAML of every object the builder would apply, error text). The cluster's optional CRDs
    are assumed as in the chart (KEDA yes, LWS no); the page says so. Secret values show as
    "set"."""
    try:
        spec = endpoint_spec(endpoint, preview_queue_url(endpoint, look_up=False))  # no AWS call per page
        objects = render_endpoint(spec, keda_available=True, lws_available=False)
    except (ValueError, KeyError) as exc:  # KeyError: a bundle without an image cannot render
        return "", str(exc)
    return yaml.safe_dump_all(redact_secret_objects(objects), sort_keys=False), ""


class ScaleForm(forms.Form):
    min_workers = forms.IntegerField(min_value=0)
    max_workers = forms.IntegerField(min_value=0)

    def clean(self):
        data = super().clean()
        low, high = data.get("min_workers"), data.get("max_workers")
        if low is not None and high is not None:
            if low > high:
                raise ValidationError(f"min_workers ({low}) must not be greater than max_workers ({high}).")
            if high > settings.LLME_MAX_WORKERS_LIMIT:
                raise ValidationError(f"max_workers must be at most {settings.LLME_MAX_WORKERS_LIMIT}.")
        return data


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    change_form_template = "admin/endpoints/modelendpoint/change_form.html"
    # Few, narrow columns so the list fits at 1280 px (docs/console.md#layout); hardware, timestamps
    # and the full reason are on the endpoint's page.
    list_display = ("name", "status_badge", "short_reason", "kind", "workers", "owner")
    list_filter = ("status", "endpoint_type", "inference_framework", "gpu_type", "owner")
    search_fields = ("name", "=id", "owner", "created_by", "model_name", "status_reason")
    list_select_related = ("bundle",)
    list_per_page = 50
    actions = ["rebuild_selected", "restart_selected"]
    readonly_fields = ("callback_auth",)
    fieldsets = (
        (None, {"fields": ("id", "name", "owner", "created_by", "endpoint_type", "is_llm", "public_inference",
                           "bundle", "created_at", "last_updated_at")}),
        ("Build", {"fields": ("status", "status_reason", "destination", "spec_version", "synced_version",
                               "creation_task_id")}),
        ("Autoscaling", {"fields": ("min_workers", "max_workers", "per_worker", "concurrent_requests_per_worker",
                                    "forwarder_max_concurrency")}),
        ("Resources per worker", {"fields": ("cpus", "memory", "storage", "gpus", "gpu_type", "nodes_per_worker")}),
        ("Model", {"fields": ("model_name", "source", "inference_framework", "inference_framework_image_tag",
                              "num_shards", "quantize", "checkpoint_path", "framework_args")}),
        ("More settings", {"classes": ("collapse",), "fields": (
            "labels", "metadata", "post_inference_hooks", "default_callback_url", "callback_auth", "billing_tags",
            "prewarm", "high_priority", "optimize_costs", "task_expires_seconds", "queue_message_timeout_seconds")}),
    )

    # ------------------------------------------------------------------ permissions

    def has_add_permission(self, request):
        return False  # endpoints are created through the API, which validates the whole spec

    def has_change_permission(self, request, obj=None):
        return False  # the desired state changes only through services: see the actions

    def has_delete_permission(self, request, obj=None):
        return False  # deleting the row would orphan cluster objects: the delete action tears down

    def has_operate_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE_PERMISSION)

    def has_teardown_permission(self, request, obj=None):
        return request.user.has_perm(TEARDOWN_PERMISSION)

    # ------------------------------------------------------------------ list

    def get_changelist_instance(self, request):
        """Attach each row's observed state, read for the whole page in one cache round trip."""
        changelist = super().get_changelist_instance(request)
        changelist.result_list = list(changelist.result_list)
        states = infra_state.read_states([endpoint.pk for endpoint in changelist.result_list])
        for endpoint in changelist.result_list:
            endpoint.observed = states.get(endpoint.pk)
        return changelist

    @admin.display(description="status", ordering="status")
    def status_badge(self, endpoint):
        return format_html('<span class="llme-status llme-status-{}">{}</span>', endpoint.status, endpoint.status)

    @admin.display(description="reason")
    def short_reason(self, endpoint):
        """The reason's start; the whole text is its tooltip and on the endpoint's page."""
        return short_text(endpoint.status_reason)

    @admin.display(description="type", ordering="endpoint_type")
    def kind(self, endpoint):
        if not endpoint.is_llm:
            return endpoint.endpoint_type
        return f"{endpoint.endpoint_type} · {endpoint.inference_framework.replace('_', ' ')}"

    @admin.display(description="workers (available / min–max)")
    def workers(self, endpoint):
        """Available / min–max, and an async endpoint's queue depth."""
        observed = getattr(endpoint, "observed", None) or {}
        available = observed.get("available_workers")
        text = f"{'–' if available is None else available} / {endpoint.min_workers}–{endpoint.max_workers}"
        if endpoint.endpoint_type == EndpointType.ASYNC:
            depth = observed.get("num_queued_items")
            text += f", {'–' if depth is None else depth} queued"
        return text

    @admin.display(description="callback auth")
    def callback_auth(self, endpoint):
        return "set (hidden)" if endpoint.default_callback_auth else "not set"  # it holds credentials

    # ------------------------------------------------------------------ endpoint page

    def get_urls(self):
        def action(name, view):
            return path(f"<path:object_id>/{name}/", self.admin_site.admin_view(require_POST(view)),
                        name=f"endpoints_modelendpoint_{name}")

        return [
            action("rebuild", self.rebuild_view),
            action("restart", self.restart_view),
            action("scale", self.scale_view),
            action("teardown", self.teardown_view),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = self.get_object(request, unquote(object_id))
        context = {}
        if endpoint is not None and self.has_view_permission(request, endpoint):  # else super() answers 403
            manifests, manifests_error = rendered_manifests(endpoint)
            context = {
                "observed": infra_state.read_state(endpoint.pk),
                "events": admin_queries.endpoint_events(endpoint.pk),
                "manifests": manifests,
                "manifests_error": manifests_error,
                "can_operate": self.has_operate_permission(request),
                "can_teardown": self.has_teardown_permission(request),
                "scale_form": ScaleForm(initial={"min_workers": endpoint.min_workers,
                                                 "max_workers": endpoint.max_workers}),
                "is_deleting": endpoint.status == EndpointStatus.DELETE_IN_PROGRESS,
            }
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def _endpoint_for(self, request, object_id, allowed) -> ModelEndpoint:
        if not allowed(request):
            raise PermissionDenied
        return get_object_or_404(ModelEndpoint.objects.select_related("bundle"), pk=unquote(object_id))

    def _back_to(self, endpoint) -> HttpResponseRedirect:
        return HttpResponseRedirect(console_url(endpoint))

    def _run(self, request, endpoint, call, done: str) -> bool:
        """Run one service call for the page; report its outcome as a message and in the admin log."""
        try:
            call()
        except DomainError as exc:  # infrastructure errors included (docs/design.md#errors)
            self.message_user(request, f"{endpoint.name}: {exc.detail}", level=messages.ERROR)
            return False
        self.log_change(request, endpoint, done)
        self.message_user(request, f"{endpoint.name}: {done}", level=messages.SUCCESS)
        return True

    def rebuild_view(self, request, object_id):
        endpoint = self._endpoint_for(request, object_id, self.has_operate_permission)
        self._run(request, endpoint, lambda: services.endpoint_rebuild(endpoint), "rebuild queued")
        return self._back_to(endpoint)

    def restart_view(self, request, object_id):
        endpoint = self._endpoint_for(request, object_id, self.has_operate_permission)
        self._run(request, endpoint, lambda: services.endpoint_restart(endpoint), "rollout restart requested")
        return self._back_to(endpoint)

    def scale_view(self, request, object_id):
        endpoint = self._endpoint_for(request, object_id, self.has_operate_permission)
        form = ScaleForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(error for field_errors in form.errors.values() for error in field_errors)
            self.message_user(request, f"{endpoint.name}: not scaled: {errors}", level=messages.ERROR)
            return self._back_to(endpoint)
        low, high = form.cleaned_data["min_workers"], form.cleaned_data["max_workers"]
        self._run(request, endpoint, lambda: services.endpoint_scale(endpoint, low, high),
                  f"workers set to {low}–{high}; update queued")
        return self._back_to(endpoint)

    def teardown_view(self, request, object_id):
        endpoint = self._endpoint_for(request, object_id, self.has_teardown_permission)
        if request.POST.get("confirm_name") != endpoint.name:
            self.message_user(request, f"{endpoint.name}: not deleted: type the endpoint's name to confirm.",
                              level=messages.ERROR)
        else:
            self._run(request, endpoint, lambda: services.endpoint_delete(endpoint),
                      "deletion queued; the row goes once its resources are torn down")
        return self._back_to(endpoint)

    # ------------------------------------------------------------------ bulk actions

    def _run_each(self, request, queryset, call, done: str) -> None:
        succeeded = sum(self._run(request, endpoint, lambda e=endpoint: call(e), done) for endpoint in queryset)
        if succeeded > 1:
            self.message_user(request, f"{succeeded} endpoint(s): {done}.", level=messages.INFO)

    @admin.action(description="Rebuild the selected endpoints", permissions=["operate"])
    def rebuild_selected(self, request, queryset):
        self._run_each(request, queryset.select_related("bundle"), services.endpoint_rebuild, "rebuild queued")

    @admin.action(description="Restart the pods of the selected endpoints", permissions=["operate"])
    def restart_selected(self, request, queryset):
        self._run_each(request, queryset, services.endpoint_restart, "rollout restart requested")


@admin.register(EndpointEvent)
class EndpointEventAdmin(admin.ModelAdmin):
    """Every endpoint's status history; written by the services only."""

    list_display = ("created_at", "endpoint_name", "old_status", "new_status", "short_reason")
    list_filter = ("new_status",)
    search_fields = ("endpoint__name", "=endpoint__id", "reason")
    list_select_related = ("endpoint",)
    list_per_page = 100

    @admin.display(description="endpoint", ordering="endpoint__name")
    def endpoint_name(self, event):
        return endpoint_link(event.endpoint)

    @admin.display(description="reason")
    def short_reason(self, event):
        return short_text(event.reason)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelBundle)
class ModelBundleAdmin(admin.ModelAdmin):
    """Bundles are created and cloned through the API; the console shows them."""

    list_display = ("name", "id", "flavor", "image", "owner", "created_at")
    list_filter = ("flavor",)
    search_fields = ("name", "=id", "owner")

    @admin.display(description="image")
    def image(self, bundle):
        return f"{bundle.image_repository}:{bundle.image_tag}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # endpoints reference bundles (PROTECT) and LLM endpoints own theirs


# ---------------------------------------------------------------------- reference tables


class RecommendedHardwareForm(forms.ModelForm):
    class Meta:
        model = RecommendedHardware
        fields = "__all__"

    def clean(self):
        """The row must describe hardware an endpoint could be built with: valid quantities, a
        mapped GPU type, at least one GPU, and one node's worth of resources at most."""
        data = super().clean()
        if not data.get("model_name") and data.get("gpu_memory_le") is None:
            raise ValidationError("Give a model name or the GPU memory (GB) this row covers.")
        if data.get("gpu_memory_le") == 0:
            self.add_error("gpu_memory_le", "Must be greater than 0.")
        if data.get("gpus") == 0:
            self.add_error("gpus", "LLM hardware needs at least one GPU.")
        if data.get("nodes_per_worker") == 0:
            self.add_error("nodes_per_worker", "Must be at least 1.")
        gpu_type = data.get("gpu_type")
        try:
            check_gpu_type_mapped(gpu_type)
        except InvalidRequest as exc:
            self.add_error(exc.field, exc.message)
        if self.errors or not all(data.get(field) for field in ("cpus", "memory", "storage", "gpus", "gpu_type")):
            return data
        try:
            validate_resources(cpus=data["cpus"], memory=data["memory"], storage=data["storage"],
                               gpus=data["gpus"], gpu_type=gpu_type)
        except InvalidRequest as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc.detail))
        return data


@admin.register(RecommendedHardware)
class RecommendedHardwareAdmin(admin.ModelAdmin):
    form = RecommendedHardwareForm
    list_display = ("__str__", "model_name", "gpu_memory_le", "gpus", "gpu_type", "cpus", "memory", "storage",
                    "nodes_per_worker")
    list_filter = ("gpu_type",)
    search_fields = ("model_name",)


class ModelRepositoryForm(forms.ModelForm):
    class Meta:
        model = ModelRepository
        fields = "__all__"

    def clean_model_name(self):
        name = self.cleaned_data["model_name"].strip()
        if not name or any(character.isspace() for character in name):
            raise ValidationError("Model names have no spaces (they are sent as model_name in the API).")
        return name

    def clean_hf_repo(self):
        repo = self.cleaned_data["hf_repo"].strip()
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name or any(character.isspace() for character in repo):
            raise ValidationError("Use a Hugging Face repository id: <organisation>/<model>.")
        return repo

    def clean_max_total_tokens(self):
        tokens = self.cleaned_data.get("max_total_tokens")
        if tokens is not None and tokens <= 0:
            raise ValidationError("Must be greater than 0.")
        return tokens


@admin.register(ModelRepository)
class ModelRepositoryAdmin(admin.ModelAdmin):
    form = ModelRepositoryForm
    list_display = ("model_name", "hf_repo", "max_total_tokens")
    search_fields = ("model_name", "hf_repo")
