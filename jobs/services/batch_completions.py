"""Batch completions v1 and v2 (docs/wire-contract.md#batch-completions), run as a Kubernetes
Job whose pod holds the stock vLLM OpenAI server as a native sidecar and our batch runner
(`python -m jobs.batch_runner`, from the llm-engine image) as the main container: the Job
completes when the runner exits (docs/jobs.md, "How a batch completion runs"). The request is
mounted at `/opt/config.json`; the runner reports progress in storage and the reconciler copies
it onto the row.

Both versions write the same row, so v2 GET/cancel also work for jobs created through v1."""
import os
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from endpoints.frameworks.launch import USER_CONTAINER_PORT, LLMServingInput, llm_bundle
from endpoints.hardware import infer_hardware
from endpoints.images import framework_repository, full_image
from endpoints.resources import HARDWARE_FIELDS, hardware_given
from endpoints.selectors import hf_repo_for
from endpoints.services import check_image_exists
from jobs.choices import JobKind, batch_completion_status
from jobs.models import BatchJob
from jobs.services.runs import check_job_resources, job_create
from llmengine_site import storage_scope
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest

CONFIG_FILE = "/opt/config.json"
RUNNER_COMMAND = ["python", "-m", "jobs.batch_runner"]
SERVER_URL = f"http://127.0.0.1:{USER_CONTAINER_PORT}"  # the sidecar, in the same pod
SERVER_HEALTH_ROUTE = "/health"
# The job's runner reaches storage with the pod's own identity (IRSA); these only say where.
_STORAGE_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def runner_image() -> str:
    """The llm-engine image (the one every control-plane process and the forwarder run)."""
    return settings.LLME_BATCH_RUNNER_IMAGE or settings.LLME_FORWARDER_IMAGE


def state_location(output_data_path: str) -> str:
    """Where the runner keeps checkpoints and progress: beside the output, under the caller's
    own prefix (which the job's identity may write to)."""
    return output_data_path + ".state"


def batch_image(version: int) -> str:
    repository = settings.LLME_BATCH_INFERENCE_REPOSITORY or framework_repository("vllm")
    tag = settings.LLME_VLLM_BATCH_TAG or settings.LLME_FRAMEWORK_LATEST_TAGS.get("vllm", "latest")
    if version == 2:
        tag = settings.LLME_VLLM_BATCH_V2_TAG or tag
    return full_image(repository, tag)


def _hardware(data: dict, model: str, explicit_allowed: bool) -> dict:
    if explicit_allowed and hardware_given(data):
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
    hf_repo = hf_repo_for(model_config["model"])
    if hf_repo is None:
        raise InvalidRequest(
            f"model_config.checkpoint_path: required for model {model_config['model']!r}, which has no known "
            "Hugging Face repository"
        )
    return {"hf_repo": hf_repo}


def _model_server(model_config: dict, weights: dict, image: str, num_shards: int) -> dict:
    """The sidecar that serves the model: the stock vLLM OpenAI server, launched exactly as
    a vLLM endpoint's is (weights from the checkpoint or the Hugging Face repo)."""
    framework_args = {"max_model_len": model_config.get("max_context_length"), "seed": model_config.get("seed"),
                      "gpu_memory_utilization": model_config.get("max_gpu_memory_utilization")}
    try:
        bundle = llm_bundle(LLMServingInput(
            model_name=model_config["model"], framework="vllm", image_tag=image.rsplit(":", 1)[-1],
            num_shards=num_shards, quantize=model_config.get("quantize"),
            checkpoint_path=weights.get("checkpoint_path"), hf_repo=weights.get("hf_repo"),
            chat_template_override=None,
            framework_args={key: value for key, value in framework_args.items() if value is not None},
        ))
    except ValueError as exc:
        raise InvalidRequest(f"model_config: {exc}") from exc
    return {"image": image, "command": bundle["command"], "env": bundle.get("env") or {},
            "port": USER_CONTAINER_PORT, "health_route": SERVER_HEALTH_ROUTE}


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
    if data.get("input_data_path"):
        storage_scope.check_path(caller.team_id, "input_data_path", data["input_data_path"])
    storage_scope.check_path(caller.team_id, "output_data_path", data["output_data_path"], write=True)
    if model_config.get("checkpoint_path"):
        storage_scope.check_path(caller.team_id, "model_config.checkpoint_path", model_config["checkpoint_path"])
    config_labels = model_config.pop("labels", None) or {}
    labels = config_labels if version == 1 else (data.get("labels") or config_labels)
    hardware = _hardware(data, model_config["model"], explicit_allowed=version == 2)
    model_config["num_shards"] = max(1, hardware["gpus"])
    image = batch_image(version)
    check_image_exists(image)
    runtime = data.get("max_runtime_sec", 86400)
    weights = _weights(model_config)
    config = {
        "model_cfg": {**model_config, **weights}, "content": data.get("content"),
        "input_data_path": data.get("input_data_path"), "output_data_path": data["output_data_path"],
        "state_location": state_location(data["output_data_path"]),
        "data_parallelism": data.get("data_parallelism", 1), "tool_config": tool,
        "max_gpu_memory_utilization": model_config.get("max_gpu_memory_utilization", 0.9),
        "model_server": _model_server(model_config, weights, image, model_config["num_shards"]),
    }
    env = {"CONFIG_FILE": CONFIG_FILE, "LLME_BATCH_SERVER_URL": SERVER_URL,
           "AWS_DEFAULT_REGION": settings.LLME_AWS_REGION, "PYTHONUNBUFFERED": "1"}
    env.update({name: os.environ[name] for name in _STORAGE_ENV if os.environ.get(name)})
    return job_create(
        kind=JobKind.BATCH_COMPLETION, owner=caller.team_id, created_by=caller.user_id, image=runner_image(),
        command=list(RUNNER_COMMAND), env=env, job_config=config, mount_location=CONFIG_FILE, labels=labels,
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
        # What the batch runner last reported (null until it starts); clients ignore unknown keys.
        "progress": batch_completion_progress(job),
    }


def batch_completion_progress(job: BatchJob) -> dict | None:
    progress = job.progress or None
    if progress is None:
        return None
    return {"num_completed": progress.get("num_completed", 0), "total": progress.get("total", 0),
            "num_failed": progress.get("num_failed", 0)}
