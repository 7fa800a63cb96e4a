"""Batch completions v1 and v2 (docs/wire-contract.md#batch-completions): a vLLM batch
image run as a Kubernetes Job with the request mounted at `/opt/config.json`.

Both versions write the same row, so v2 GET/cancel also work for jobs created through v1."""
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from endpoints.hardware import infer_hardware
from endpoints.images import framework_repository, full_image
from endpoints.models import ModelRepository
from endpoints.services import check_image_exists
from jobs.choices import JobKind, batch_completion_status
from jobs.models import BatchJob
from jobs.services.runs import check_job_resources, job_create
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest

CONFIG_FILE = "/opt/config.json"
DEFAULT_COMMAND = ["dumb-init", "--", "python", "vllm_batch.py"]
HARDWARE_FIELDS = ("cpus", "gpus", "memory", "storage", "gpu_type")


def batch_image(version: int) -> str:
    repository = getattr(settings, "LLME_BATCH_INFERENCE_REPOSITORY", "") or framework_repository("vllm")
    tag = getattr(settings, "LLME_VLLM_BATCH_TAG", "") or settings.LLME_FRAMEWORK_LATEST_TAGS.get("vllm", "latest")
    if version == 2:
        tag = getattr(settings, "LLME_VLLM_BATCH_V2_TAG", "") or tag
    return full_image(repository, tag)


def _hardware(data: dict, model: str, explicit_allowed: bool) -> dict:
    given = [field for field in HARDWARE_FIELDS if data.get(field) is not None]
    if explicit_allowed and given:
        needed = ["cpus", "gpus", "memory", "storage"] + (["gpu_type"] if data.get("gpus") else [])
        missing = [field for field in needed if data.get(field) is None]
        if missing:
            raise InvalidRequest(
                f"Give all of cpus, gpus, memory, storage (and gpu_type when gpus > 0), or none of them to use the "
                f"recommended hardware; missing: {', '.join(missing)}"
            )
        hardware = {field: data.get(field) for field in HARDWARE_FIELDS}
    else:
        inferred = infer_hardware(model)
        hardware = {"cpus": inferred.cpus, "gpus": inferred.gpus, "memory": inferred.memory,
                    "storage": inferred.storage, "gpu_type": inferred.gpu_type}
    hardware["gpus"] = hardware["gpus"] or 0
    if not hardware["gpus"]:
        hardware["gpu_type"] = None
    check_job_resources(**hardware)
    return hardware


def _weights(model_config: dict) -> dict:
    """Where the batch job loads weights from: the checkpoint, else the model's HF repository."""
    if model_config.get("checkpoint_path"):
        return {"checkpoint_path": model_config["checkpoint_path"]}
    row = ModelRepository.objects.filter(model_name=model_config["model"]).first()
    if row is None:
        raise InvalidRequest(
            f"model_config.checkpoint_path: required for model {model_config['model']!r}, which has no known "
            "Hugging Face repository"
        )
    return {"hf_repo": row.hf_repo}


def batch_completion_create(caller: Caller, data: dict, version: int) -> BatchJob:
    """Create a batch completion job from a validated v1 or v2 body."""
    model_config = dict(data["model_config"])
    if version == 1 and data.get("data_parallelism", 1) > 1:
        raise InvalidRequest("data_parallelism: values above 1 are not supported by v1 batch completions")
    tool = data.get("tool_config")
    if tool and tool.get("name") != "code_evaluator":
        raise InvalidRequest(f"tool_config.name: only code_evaluator is supported, not {tool.get('name')!r}")
    if data.get("content") is None and not data.get("input_data_path"):
        raise InvalidRequest("Either input_data_path or content must be given")
    config_labels = model_config.pop("labels", None) or {}
    labels = config_labels if version == 1 else (data.get("labels") or config_labels)
    hardware = _hardware(data, model_config["model"], explicit_allowed=version == 2)
    model_config["num_shards"] = max(1, hardware["gpus"])
    image = batch_image(version)
    check_image_exists(image)
    runtime = data.get("max_runtime_sec", 86400)
    config = {
        "model_cfg": {**model_config, **_weights(model_config)}, "content": data.get("content"),
        "input_data_path": data.get("input_data_path"), "output_data_path": data["output_data_path"],
        "data_parallelism": data.get("data_parallelism", 1), "tool_config": tool,
        "max_gpu_memory_utilization": model_config.get("max_gpu_memory_utilization", 0.9),
    }
    return job_create(
        kind=JobKind.BATCH_COMPLETION, owner=caller.team_id, created_by=caller.user_id, image=image,
        command=list(getattr(settings, "LLME_BATCH_INFERENCE_COMMAND", None) or DEFAULT_COMMAND),
        env={"CONFIG_FILE": CONFIG_FILE}, job_config=config, mount_location=CONFIG_FILE, labels=labels,
        max_runtime_seconds=runtime, num_workers=data.get("data_parallelism", 1) if version == 2 else 1,
        input_data_path=data.get("input_data_path"), output_data_path=data["output_data_path"],
        model_config=dict(data["model_config"]), priority=data.get("priority"),
        expires_at=timezone.now() + timedelta(seconds=runtime), **hardware,
    )


def batch_completion_set_priority(job: BatchJob, priority: str | None) -> BatchJob:
    """Record a new priority (V5). It orders nothing already running: Kubernetes cannot change a
    running pod's priority; it is kept for the operator and for jobs still queued."""
    BatchJob.objects.filter(pk=job.pk).update(priority=priority)
    job.refresh_from_db()
    return job


def batch_completion_body(job: BatchJob) -> dict:
    """`BatchCompletionsJob` (docs/wire-contract.md#batch-completions)."""
    return {
        "job_id": job.id,
        "input_data_path": job.input_data_path,
        "output_data_path": job.output_data_path or "",
        "model_config": job.model_config or {},
        "priority": job.priority,
        "status": batch_completion_status(job.status),
        "created_at": job.created_at.isoformat(),
        "expires_at": (job.expires_at or job.created_at).isoformat(),
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        # The client types `metadata` as a flat map of strings: the job's labels.
        "metadata": {str(key): str(value) for key, value in job.labels.items()},
    }
