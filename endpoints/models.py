"""Model bundles, model endpoints (desired state) and their event history.

The database holds the desired state; the cluster is observed state
(docs/design.md#desired-state-and-the-flow-of-a-change). Desired values
(workers, resources, labels, framework settings) are stored here and returned by the API at
once; observed numbers come from the cacher through `endpoints.infra_state`.
"""
from django.db import models
from django.db.models import Q

from endpoints.choices import (
    BundleFlavor,
    EndpointStatus,
    EndpointType,
    GpuType,
    InferenceFramework,
    LLMSource,
    Quantization,
)
from llmengine_site import ids
from llmengine_site.models import OWNER_MAX_LENGTH, StatusEvent


class ModelBundle(models.Model):
    """What an endpoint runs: an image, its command and routes (runnable-image flavors)."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.bundle_id, editable=False)
    name = models.CharField(max_length=255, db_index=True)
    owner = models.CharField(max_length=OWNER_MAX_LENGTH, db_index=True)
    created_by = models.CharField(max_length=OWNER_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    schema_location = models.CharField(max_length=1024, blank=True, null=True)
    flavor = models.CharField(max_length=64, choices=BundleFlavor.choices)
    # Flavor fields as sent in the v2 API: repository, tag, command, env, predict_route,
    # healthcheck_route, protocol, readiness_initial_delay_seconds, routes, extra_routes,
    # forwarder_type, worker_command, worker_env, streaming_command, streaming_predict_route.
    spec = models.JSONField(default=dict, blank=True)
    app_config = models.JSONField(null=True, blank=True)
    model_artifact_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def image_repository(self) -> str:
        return self.spec.get("repository", "")

    @property
    def image_tag(self) -> str:
        return self.spec.get("tag", "")


class ModelEndpoint(models.Model):
    """One served model. LLM endpoints (`is_llm`) also carry their framework settings."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.endpoint_id, editable=False)
    name = models.CharField(max_length=63, db_index=True)
    owner = models.CharField(max_length=OWNER_MAX_LENGTH, db_index=True)
    created_by = models.CharField(max_length=OWNER_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_updated_at = models.DateTimeField(auto_now=True)
    endpoint_type = models.CharField(max_length=16, choices=EndpointType.choices)
    bundle = models.ForeignKey(ModelBundle, on_delete=models.PROTECT, related_name="endpoints")

    status = models.CharField(
        max_length=32, choices=EndpointStatus.choices, default=EndpointStatus.UPDATE_PENDING, db_index=True
    )
    status_reason = models.TextField(blank=True, default="")
    destination = models.CharField(max_length=255, default="UNKNOWN")
    creation_task_id = models.CharField(max_length=64, blank=True, default="")
    # Every accepted write bumps spec_version; the builder records the version it applied in
    # synced_version and only moves the status of the version it built
    # (docs/design.md#desired-state-and-the-flow-of-a-change).
    spec_version = models.PositiveIntegerField(default=1)
    synced_version = models.PositiveIntegerField(default=0)
    # "Kind/name" -> spec hash of every object the last successful build applied; the cacher
    # re-applies the endpoint when one is missing or carries another hash
    # (docs/operations.md#pruning-and-drift-repair).
    applied_objects = models.JSONField(default=dict, blank=True, editable=False)
    # When the cacher last re-sent this row's build or teardown: at most once per
    # LLME_RESEND_AFTER_SECONDS (docs/operations.md#the-flow-of-a-change).
    resent_at = models.DateTimeField(null=True, blank=True, editable=False)

    metadata = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    public_inference = models.BooleanField(default=False)
    post_inference_hooks = models.JSONField(default=list, blank=True)
    default_callback_url = models.URLField(max_length=2048, blank=True, null=True)
    default_callback_auth = models.JSONField(null=True, blank=True)
    billing_tags = models.JSONField(null=True, blank=True)
    prewarm = models.BooleanField(default=True)
    high_priority = models.BooleanField(default=False)
    optimize_costs = models.BooleanField(default=False)
    task_expires_seconds = models.PositiveIntegerField(null=True, blank=True)
    queue_message_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Autoscaling.
    min_workers = models.PositiveIntegerField()
    max_workers = models.PositiveIntegerField()
    per_worker = models.PositiveIntegerField()
    concurrent_requests_per_worker = models.PositiveIntegerField()
    forwarder_max_concurrency = models.PositiveIntegerField(null=True, blank=True)

    # Resources per worker (Kubernetes quantities as given, validated on the way in).
    cpus = models.CharField(max_length=32)
    memory = models.CharField(max_length=32)
    storage = models.CharField(max_length=32, blank=True, default="")
    gpus = models.PositiveIntegerField(default=0)
    gpu_type = models.CharField(max_length=64, choices=GpuType.choices, blank=True, null=True)
    nodes_per_worker = models.PositiveIntegerField(default=1)

    # LLM settings.
    is_llm = models.BooleanField(default=False, db_index=True)
    model_name = models.CharField(max_length=255, blank=True, default="")
    source = models.CharField(max_length=32, choices=LLMSource.choices, blank=True, default="")
    inference_framework = models.CharField(max_length=32, choices=InferenceFramework.choices, blank=True, default="")
    inference_framework_image_tag = models.CharField(max_length=128, blank=True, default="")
    num_shards = models.PositiveIntegerField(null=True, blank=True)
    quantize = models.CharField(max_length=32, choices=Quantization.choices, blank=True, null=True)
    checkpoint_path = models.CharField(max_length=1024, blank=True, null=True)
    chat_template_override = models.TextField(blank=True, null=True)
    enable_startup_metrics = models.BooleanField(default=False)
    # vLLM / SGLang arguments the caller sent explicitly (non-null only).
    framework_args = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="endpoint_name_unique_per_owner"),
            # LLM endpoint names are global: completions address them by name alone.
            models.UniqueConstraint(fields=["name"], condition=Q(is_llm=True), name="llm_endpoint_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class EndpointEvent(StatusEvent):
    """One status transition (or notable build step) of an endpoint, newest first."""

    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="events")


class RecommendedHardware(models.Model):
    """Hardware for an LLM endpoint created without explicit resources
    (docs/wire-contract.md#hardware-inference).

    A row matches by `model_name` exactly, or else by the smallest `gpu_memory_le` (GB) that
    covers the estimated memory of the model.
    """

    model_name = models.CharField(max_length=255, blank=True, default="", db_index=True)
    gpu_memory_le = models.PositiveIntegerField(null=True, blank=True, help_text="GB of GPU memory this row covers")
    cpus = models.CharField(max_length=32)
    gpus = models.PositiveIntegerField()
    memory = models.CharField(max_length=32)
    storage = models.CharField(max_length=32)
    gpu_type = models.CharField(max_length=64, choices=GpuType.choices)
    nodes_per_worker = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["model_name", "gpu_memory_le"]
        verbose_name_plural = "recommended hardware"
        constraints = [
            models.CheckConstraint(
                condition=~Q(model_name="") | Q(gpu_memory_le__isnull=False),
                name="hardware_row_has_model_or_memory",
            )
        ]

    def __str__(self) -> str:
        key = self.model_name or f"≤{self.gpu_memory_le} GB"
        return f"{key}: {self.gpus}× {self.gpu_type}"


class ModelRepository(models.Model):
    """Model name → Hugging Face repository (docs/wire-contract.md#model-table), used when no
    checkpoint is given."""

    model_name = models.CharField(max_length=255, unique=True)
    hf_repo = models.CharField(max_length=255)
    max_total_tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["model_name"]
        verbose_name_plural = "model repositories"

    def __str__(self) -> str:
        return f"{self.model_name} → {self.hf_repo}"
