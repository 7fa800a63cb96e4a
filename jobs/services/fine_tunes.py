"""Fine-tunes (docs/wire-contract.md#fine-tunes-and-model-download,
docs/wire-contract.md#fine-tuning): validate, create the job, serve the result.

Guarantees: nothing is created unless every check passes; the training job gets the dataset
locations, hyperparameters and output location in its mounted config and no control-plane
secret; a succeeded fine-tune becomes an LLM endpoint named after its fine-tuned model.
"""
import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from endpoints.images import full_image
from endpoints.models import ModelEndpoint
from endpoints.services import llm_endpoint_create
from jobs import datasets, selectors, storage
from jobs.choices import ACTIVE_STATUSES, JobKind, JobStatus
from jobs.models import BatchJob, FineTuneTemplate, JobEvent
from jobs.services.runs import check_job_resources, enqueue_sync, job_cancel, job_create
from llmengine_site import storage_scope
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest, ObjectNotFound, UpstreamUnavailable
from llmengine_site.infra import InfraError
from llmengine_site.labels import FINE_TUNED_MODEL

logger = logging.getLogger(__name__)

SUFFIX = re.compile(r"^[A-Za-z0-9-]+$")
SUFFIX_MAX_LENGTH = 28
FINE_TUNED_NAME_MAX_LENGTH = 62
CONFIG_MOUNT = "/restricted_launch/fine_tune_config.json"
MODEL_NOT_FOUND = "The requested fine-tuned model could not be found."


def fine_tune_quota() -> int:
    return settings.LLME_FINE_TUNE_QUOTA


def fine_tuned_model_name(base_model: str, suffix: str | None, now=None) -> str:
    """`<model>.<suffix>.<YYMMDD-HHMMSS>` (or without suffix), made a valid label value ≤62."""
    stamp = (now or timezone.now()).strftime("%y%m%d-%H%M%S")
    raw = ".".join(part for part in (base_model, suffix, stamp) if part)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", raw)
    if len(cleaned) > FINE_TUNED_NAME_MAX_LENGTH:  # keep the timestamp: it makes the name unique
        head = cleaned[: FINE_TUNED_NAME_MAX_LENGTH - len(stamp) - 1].rstrip("-_.")
        cleaned = f"{head}.{stamp}"
    return cleaned.strip("-_.")


def output_location(owner: str, fine_tuned_model: str) -> str:
    """Where the training job writes the weights: `<repository>/<owner>/models--<name>`."""
    prefix = storage_scope.fine_tune_prefix(owner)
    if not prefix:
        raise InvalidRequest(
            "Fine-tuning is not configured in this deployment: set LLME_FINE_TUNE_REPOSITORY (an s3:// prefix "
            "for fine-tuned weights) or LLME_S3_BUCKET."
        )
    return f"{prefix}models--{fine_tuned_model}"


def _check_suffix(suffix: str | None) -> None:
    if suffix is None:
        return
    if len(suffix) > SUFFIX_MAX_LENGTH or not SUFFIX.match(suffix):
        raise InvalidRequest(
            f"suffix: {suffix!r} is invalid: use at most {SUFFIX_MAX_LENGTH} letters, digits and '-'"
        )


def _template(base_model: str) -> FineTuneTemplate:
    template = selectors.fine_tune_template(base_model)
    if template is None:
        available = ", ".join(FineTuneTemplate.objects.filter(enabled=True).values_list("base_model", flat=True))
        raise InvalidRequest(
            f"Fine-tuning not implemented for model type {base_model} (base models with a template: {available or 'none'})"
        )
    return template


def _hyperparameters(template: FineTuneTemplate, given: dict) -> dict:
    missing = [name for name in template.required_hyperparameters if name not in given]
    if missing:
        raise InvalidRequest(f"hyperparameters: required hyperparameter(s) missing for {template.base_model}: {', '.join(missing)}")
    return {**template.default_hyperparameters, **given}


def fine_tune_create(caller: Caller, data: dict) -> BatchJob:
    """Create a fine-tune from a validated body (`hyperparameters` defaults to `{}`).
    Raises InvalidRequest / ObjectNotFound naming the problem; creates nothing then."""
    template = _template(data["model"])
    _check_suffix(data.get("suffix"))
    hyperparameters = _hyperparameters(template, data.get("hyperparameters") or {})
    wandb = data.get("wandb_config")
    if wandb is not None and "api_key" not in wandb:
        raise InvalidRequest("wandb_config: must include api_key")
    if selectors.active_fine_tune_count(caller.team_id) >= fine_tune_quota():
        raise InvalidRequest(
            f"Quota reached: at most {fine_tune_quota()} fine-tunes may be pending or running per team; "
            "wait for one to finish or cancel one."
        )
    training = datasets.check_dataset(caller, "training_file", data["training_file"])
    validation = None
    if data.get("validation_file"):
        validation = datasets.check_dataset(caller, "validation_file", data["validation_file"])
    check_job_resources(cpus=template.cpus, memory=template.memory, storage=template.storage,
                        gpus=template.gpus, gpu_type=template.gpu_type)
    name = fine_tuned_model_name(template.base_model, data.get("suffix"))
    output = output_location(caller.team_id, name)
    config = {
        "user_id": caller.user_id, "owner": caller.team_id, "base_model": template.base_model,
        "model_name": name, "training_file": data["training_file"], "training_file_location": training,
        "validation_file": data.get("validation_file"), "validation_file_location": validation,
        "hyperparameters": hyperparameters, "wandb_config": wandb, "output_location": output,
    }
    return job_create(
        kind=JobKind.FINE_TUNE, owner=caller.team_id, created_by=caller.user_id, template=template,
        image=full_image(template.image_repository, template.image_tag), command=template.command,
        env=template.env, job_config=config, mount_location=CONFIG_MOUNT,
        labels={"product": "fine-tune"}, annotations={FINE_TUNED_MODEL: name},
        max_runtime_seconds=template.max_runtime_seconds, cpus=template.cpus, memory=template.memory,
        storage=template.storage, gpus=template.gpus, gpu_type=template.gpu_type,
        fine_tuned_model=name, output_location=output,
    )


def fine_tune_cancel(job: BatchJob) -> bool:
    """Cancel a fine-tune as upstream's clients expect: a running one stops (CANCELLED), a
    finished one has its Kubernetes Job objects removed (its weights and any endpoint it
    produced stay). Either way it leaves `GET /v1/llm/fine-tunes`; the row, its status and its
    events stay for `GET /v1/llm/fine-tunes/{id}` and the console. Always True."""
    with transaction.atomic():
        if job.status in ACTIVE_STATUSES:
            job_cancel(job)
        job.refresh_from_db(fields=["status"])
        if BatchJob.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=timezone.now()):
            if job.status != JobStatus.CANCELLED:
                JobEvent.objects.create(job=job, old_status=job.status, new_status=job.status,
                                        reason="cancelled after it finished: Kubernetes objects removed, weights "
                                               "and endpoint kept; no longer listed")
            enqueue_sync(job.pk)
    return True


def fine_tune_serve(job: BatchJob) -> str:
    """Create the LLM endpoint `<fine_tuned_model>` over the job's output (idempotent: an
    existing endpoint of that name and owner is adopted). Returns the endpoint id, or '' and
    records why on the job when the endpoint cannot be created."""
    existing = ModelEndpoint.objects.filter(is_llm=True, name=job.fine_tuned_model, owner=job.owner).first()
    if existing is None:
        template = job.template
        data = {
            "name": job.fine_tuned_model, "model_name": template.base_model if template else job.job_config.get("base_model"),
            "source": "hugging_face", "inference_framework": template.serve_framework if template else "vllm",
            "inference_framework_image_tag": template.serve_framework_tag if template else "latest",
            "checkpoint_path": job.output_location, "endpoint_type": "streaming",
            "min_workers": template.serve_min_workers if template else 0,
            "max_workers": template.serve_max_workers if template else 1,
            "per_worker": template.serve_per_worker if template else 2,
            "labels": {"product": "fine-tune"}, "metadata": {"fine_tune_id": job.id}, "public_inference": False,
        }
        try:
            existing = llm_endpoint_create(Caller(job.created_by, job.owner), data, {})
        except (InvalidRequest, ObjectNotFound, UpstreamUnavailable) as exc:
            BatchJob.objects.filter(pk=job.pk).update(status_reason=f"training succeeded but serving failed: {exc.detail}",
                                                      served_endpoint_id="-")
            return ""
    BatchJob.objects.filter(pk=job.pk).update(served_endpoint_id=existing.id)
    return existing.id


def fine_tuned_weights_urls(caller: Caller, model_name: str) -> dict[str, str]:
    """Presigned URLs of the weights of the caller's fine-tuned model (or LLM endpoint with a
    checkpoint) `model_name`. 404 when there is no such model or no weights under it."""
    endpoints = list(ModelEndpoint.objects.filter(is_llm=True, name=model_name, owner=caller.team_id)[:2])
    location = endpoints[0].checkpoint_path if len(endpoints) == 1 else None
    if not location:
        job = selectors.jobs_owned_by(caller, JobKind.FINE_TUNE).filter(
            fine_tuned_model=model_name, status=JobStatus.SUCCESS).first()
        location = job.output_location if job else None
    if not location or not location.startswith("s3://"):
        raise ObjectNotFound(MODEL_NOT_FOUND)
    storage_scope.check_path(caller.team_id, "checkpoint_path", location)
    try:
        urls = storage.presigned_urls_under(location)
    except InfraError as exc:
        if exc.transient:
            raise UpstreamUnavailable(f"Could not list the model's weights: {exc}. Retry later.") from exc
        raise ObjectNotFound(MODEL_NOT_FOUND) from exc
    if not urls:
        raise ObjectNotFound(MODEL_NOT_FOUND)
    return urls
