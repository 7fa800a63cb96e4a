"""Docker-image batch job bundles and jobs (docs/wire-contract.md#docker-image-batch-jobs)."""
from endpoints.images import full_image
from endpoints.services import check_image_exists
from jobs import selectors
from jobs.choices import JobKind
from jobs.models import BatchJob, DockerImageBatchJobBundle
from jobs.services.runs import DEFAULT_MAX_RUNTIME_SECONDS, DEFAULT_MOUNT_LOCATION, check_job_resources, job_create
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest

RESOURCE_FIELDS = ("cpus", "memory", "storage", "gpus", "gpu_type")


def bundle_create(caller: Caller, data: dict) -> DockerImageBatchJobBundle:
    """Create a bundle from a validated body; its default resources must be valid if given."""
    resources = data.get("resource_requests") or {}
    if resources.get("cpus") is not None or resources.get("memory") is not None:
        try:
            check_job_resources(
                cpus=resources.get("cpus"), memory=resources.get("memory"), storage=resources.get("storage"),
                gpus=resources.get("gpus") or 0, gpu_type=resources.get("gpu_type"),
            )
        except InvalidRequest as exc:
            raise InvalidRequest(f"Default batch job bundle resource request is invalid: {exc.detail}") from exc
    return DockerImageBatchJobBundle.objects.create(
        owner=caller.team_id, created_by=caller.user_id, name=data["name"],
        image_repository=data["image_repository"], image_tag=data["image_tag"], command=data["command"],
        env=data.get("env") or {}, mount_location=data.get("mount_location"), public=data.get("public", False),
        cpus=resources.get("cpus") or "", memory=resources.get("memory") or "", storage=resources.get("storage") or "",
        gpus=resources.get("gpus") or 0, gpu_type=resources.get("gpu_type"),
    )


def merged_resources(bundle: DockerImageBatchJobBundle, requested: dict) -> dict:
    """Request overrides over bundle defaults; `gpus: 0` makes the job CPU-only."""
    merged = {field: getattr(bundle, field) for field in RESOURCE_FIELDS}
    merged.update({key: value for key, value in requested.items() if key in RESOURCE_FIELDS and value is not None})
    if not merged["gpus"]:
        merged["gpus"], merged["gpu_type"] = 0, None
    check_job_resources(**merged)
    return merged


def docker_image_batch_job_create(caller: Caller, data: dict) -> BatchJob:
    """Launch a job of a bundle the caller owns (or a public one). A `trigger_id` label of one
    of the caller's triggers links the job to that trigger (how scheduled runs are listed)."""
    bundle = selectors.bundle_for_use(
        caller, bundle_id=data.get("docker_image_batch_job_bundle_id"), name=data.get("docker_image_batch_job_bundle_name")
    )
    requested = data.get("resource_requests") or {}
    resources = merged_resources(bundle, requested)
    image = full_image(bundle.image_repository, bundle.image_tag)
    check_image_exists(image)
    labels = data.get("labels") or {}
    trigger = None
    if labels.get("trigger_id"):
        trigger = selectors.triggers_owned_by(caller).filter(pk=labels["trigger_id"]).first()
    return job_create(
        kind=JobKind.DOCKER_IMAGE, owner=caller.team_id, created_by=caller.user_id, bundle=bundle, trigger=trigger,
        image=image, command=bundle.command, env=bundle.env, job_config=data.get("job_config") or {},
        mount_location=bundle.mount_location or DEFAULT_MOUNT_LOCATION, labels=labels,
        max_runtime_seconds=data.get("override_job_max_runtime_s") or DEFAULT_MAX_RUNTIME_SECONDS,
        num_workers=requested.get("nodes_per_worker") or 1, **resources,
    )
