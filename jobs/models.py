"""Files, fine-tune templates, batch jobs (fine-tunes, batch completions, docker-image batch
jobs), docker-image batch job bundles and triggers.

Rows are the desired state and the record; the Kubernetes Job is the observed state
(docs/design.md#desired-state-and-the-flow-of-a-change).
Every job row stays after its Kubernetes Job is reaped, so history, list and GET keep working.
"""
from django.db import models

from endpoints.choices import GpuType
from jobs.choices import JobKind, JobStatus
from llmengine_site import ids
from llmengine_site.models import OWNER_MAX_LENGTH, StatusEvent


class Owned(models.Model):
    owner = models.CharField(max_length=OWNER_MAX_LENGTH, db_index=True)
    created_by = models.CharField(max_length=OWNER_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True


class File(Owned):
    """An uploaded file. The id is opaque; the stored object's key never depends on the
    filename, so two uploads with the same name never overwrite each other."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.file_id, editable=False)
    filename = models.CharField(max_length=1024)
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=1024, unique=True, editable=False)
    content_type = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.id})"


class ResourceFields(models.Model):
    """Per-worker resources of a job (Kubernetes quantities as given, validated on the way in)."""

    cpus = models.CharField(max_length=32, blank=True, default="")
    memory = models.CharField(max_length=32, blank=True, default="")
    storage = models.CharField(max_length=32, blank=True, default="")
    gpus = models.PositiveIntegerField(default=0)
    gpu_type = models.CharField(max_length=64, choices=GpuType.choices, blank=True, null=True)

    class Meta:
        abstract = True


class FineTuneTemplate(ResourceFields):
    """How to fine-tune one base model and how to serve the result (editable in the admin)."""

    base_model = models.CharField(max_length=255, unique=True, help_text="The `model` a fine-tune request names")
    image_repository = models.CharField(max_length=512, help_text="Prefixed with LLME_DOCKER_REPO_PREFIX unless it names a registry")
    image_tag = models.CharField(max_length=128)
    command = models.JSONField(default=list, help_text="The container command, a JSON list of strings")
    env = models.JSONField(default=dict, blank=True, help_text="Extra environment of the training container")
    default_hyperparameters = models.JSONField(default=dict, blank=True)
    required_hyperparameters = models.JSONField(default=list, blank=True, help_text="Names the request must give")
    max_runtime_seconds = models.PositiveIntegerField(default=7 * 24 * 3600)
    serve_framework = models.CharField(max_length=32, default="vllm")
    serve_framework_tag = models.CharField(max_length=128, default="latest")
    serve_min_workers = models.PositiveIntegerField(default=0)
    serve_max_workers = models.PositiveIntegerField(default=1)
    serve_per_worker = models.PositiveIntegerField(default=2)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["base_model"]

    def __str__(self) -> str:
        return self.base_model


class DockerImageBatchJobBundle(ResourceFields, Owned):
    """An image, command and default resources that docker-image batch jobs run
    (docs/wire-contract.md#docker-image-batch-jobs)."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.batch_job_bundle_id, editable=False)
    name = models.CharField(max_length=255, db_index=True)
    image_repository = models.CharField(max_length=512)
    image_tag = models.CharField(max_length=128)
    command = models.JSONField(default=list)
    env = models.JSONField(default=dict, blank=True)
    mount_location = models.CharField(max_length=1024, blank=True, null=True)
    public = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Trigger(Owned):
    """A cron schedule that launches a docker-image batch job through the gateway
    (docs/wire-contract.md#triggers)."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.trigger_id, editable=False)
    name = models.CharField(max_length=255, db_index=True)
    cron_schedule = models.CharField(max_length=255)
    bundle = models.ForeignKey(DockerImageBatchJobBundle, on_delete=models.PROTECT, related_name="triggers")
    default_job_config = models.JSONField(null=True, blank=True)
    default_job_metadata = models.JSONField(null=True, blank=True)
    suspend = models.BooleanField(default=False)
    # The credential the CronJob sends; its raw value lives only in the trigger's Secret.
    api_key = models.ForeignKey("llmengine_site.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, editable=False)
    spec_version = models.PositiveIntegerField(default=1)
    synced_version = models.PositiveIntegerField(default=0)
    sync_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="trigger_name_unique_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class BatchJob(ResourceFields, Owned):
    """One run of a container as a Kubernetes Job: a fine-tune, a batch completion or a
    docker-image batch job. `job_config` is mounted as a JSON file at `mount_location`."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.fine_tune_id, editable=False)
    kind = models.CharField(max_length=32, choices=JobKind.choices, db_index=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True)
    status_reason = models.TextField(blank=True, default="")
    completed_at = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    reaped_at = models.DateTimeField(null=True, blank=True, help_text="When its Kubernetes objects were removed")
    cancel_requested_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When its owner cancelled it: a fine-tune then leaves the API's list (the row keeps its history)")

    image = models.CharField(max_length=1024)
    command = models.JSONField(default=list)
    env = models.JSONField(default=dict, blank=True)
    job_config = models.JSONField(default=dict, blank=True)
    mount_location = models.CharField(max_length=1024)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    max_runtime_seconds = models.PositiveIntegerField()
    num_workers = models.PositiveIntegerField(default=1)

    bundle = models.ForeignKey(DockerImageBatchJobBundle, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    trigger = models.ForeignKey(Trigger, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    # Fine-tunes.
    template = models.ForeignKey(FineTuneTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    fine_tuned_model = models.CharField(max_length=255, blank=True, default="", db_index=True)
    output_location = models.CharField(max_length=2048, blank=True, default="")
    served_endpoint_id = models.CharField(max_length=40, blank=True, default="")
    final_events = models.JSONField(null=True, blank=True, help_text="The job's log events, kept when it finished")
    # Batch completions.
    input_data_path = models.CharField(max_length=2048, blank=True, null=True)
    output_data_path = models.CharField(max_length=2048, blank=True, null=True)
    model_config = models.JSONField(null=True, blank=True)
    priority = models.CharField(max_length=64, blank=True, null=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(
        null=True, blank=True,
        help_text='What the batch runner last reported: {"total", "num_completed", "num_failed", "done", "error"}')

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class JobEvent(StatusEvent):
    """One status transition of a job, newest first (the fine-tune events route reads them
    oldest first, `jobs/events.py`)."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="events")


class FineTuneManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=JobKind.FINE_TUNE)


class FineTune(BatchJob):
    """The fine-tune jobs among the batch jobs: the console's Fine-tunes page
    (docs/console.md#pages) has its own list, page, filters and permissions."""

    objects = FineTuneManager()

    class Meta:
        proxy = True
        ordering = ["-created_at"]
        verbose_name = "fine-tune"
