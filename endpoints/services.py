"""Writes of endpoints and bundles: validate, write the row, bump `spec_version`, enqueue the
build after commit (docs/design.md#desired-state-and-the-flow-of-a-change). Raises domain errors
from llmengine_site.errors."""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from endpoints import selectors
from endpoints.callback_auth import keep_stored_callback_secret
from endpoints.choices import (
    STREAMING_ONLY_FRAMEWORKS,
    SUPPORTED_BUNDLE_FLAVORS,
    SUPPORTED_QUANTIZATION,
    BundleFlavor,
    EndpointStatus,
    EndpointType,
    InferenceFramework,
)
from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.hardware import infer_hardware
from endpoints.images import full_image, resolve_tag
from endpoints.models import EndpointEvent, ModelBundle, ModelEndpoint, ModelRepository
from endpoints.resources import validate_resources
from llmengine_site import ids, storage_scope
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest, ObjectNotFound, UpstreamUnavailable
from llmengine_site.infra import InfraError

logger = logging.getLogger(__name__)

LLM_CONCURRENT_REQUESTS_PER_WORKER = 250  # the engine batches; the forwarder should not queue
MAX_ASYNC_CONCURRENCY = 20
ENDPOINT_EXISTS = "The specified model endpoint already exists."


# ----------------------------------------------------------------------------- status


def endpoint_record_status(endpoint_id: str, spec_version: int | None, new_status: str, reason: str = "") -> bool:
    """Move an endpoint to `new_status` (with a reason) if it is still at `spec_version`
    (any version when None), and record the transition as an event. Returns whether it moved.

    The conditional UPDATE keeps an old build from overwriting the status of a newer spec."""
    with transaction.atomic():
        queryset = ModelEndpoint.objects.select_for_update().filter(pk=endpoint_id)
        if spec_version is not None:
            queryset = queryset.filter(spec_version=spec_version)
        endpoint = queryset.first()
        if endpoint is None:
            return False
        old_status = endpoint.status
        if old_status == new_status and endpoint.status_reason == reason:
            return True
        ModelEndpoint.objects.filter(pk=endpoint_id).update(
            status=new_status, status_reason=reason, last_updated_at=timezone.now()
        )
        EndpointEvent.objects.create(endpoint_id=endpoint_id, old_status=old_status, new_status=new_status, reason=reason)
        name = endpoint.name
    from endpoints.inference.routing import forget

    transaction.on_commit(lambda: forget(endpoint_id, name))  # the gateway answers by the new status
    return True


def _enqueue_sync(endpoint: ModelEndpoint) -> str:
    """Send the build for this endpoint once the transaction commits; returns the task id."""
    from endpoints.tasks import sync_endpoint

    from endpoints.inference.routing import forget

    task_id = ids.task_id()
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(creation_task_id=task_id)
    endpoint_id, name = endpoint.pk, endpoint.name

    def after_commit():
        forget(endpoint_id, name)  # the gateway routes with the new spec from now on
        sync_endpoint.send(endpoint_id)

    transaction.on_commit(after_commit)
    return task_id


def _record_event(endpoint: ModelEndpoint, old_status: str, reason: str) -> None:
    EndpointEvent.objects.create(endpoint=endpoint, old_status=old_status, new_status=endpoint.status, reason=reason)


# ----------------------------------------------------------------------------- checks


def check_image_exists(image: str) -> None:
    """404 when the registry check is on and the image is not in the registry."""
    if not settings.LLME_REGISTRY_CHECK:
        return
    from llmengine_site.infra.registry import image_exists

    try:
        found = image_exists(image)
    except InfraError as exc:
        raise UpstreamUnavailable(f"Could not check image {image} in the registry: {exc}. Retry later.") from exc
    if not found:
        raise ObjectNotFound("The specified docker image could not be found.")


def _check_gpu_type_mapped(gpu_type: str | None) -> None:
    if gpu_type and gpu_type not in settings.LLME_GPU_NODE_LABELS:
        raise InvalidRequest(
            f"gpu_type: {gpu_type} has no node label mapping in this deployment (LLME_GPU_NODE_LABELS); "
            f"available: {', '.join(sorted(settings.LLME_GPU_NODE_LABELS))}"
        )


def _check_workers(endpoint_type: str, min_workers: int, max_workers: int) -> None:
    if min_workers > max_workers:
        raise InvalidRequest(f"min_workers: {min_workers} must not be greater than max_workers ({max_workers})")
    if min_workers == 0 and endpoint_type != EndpointType.ASYNC and not _keda_may_be_installed():
        raise InvalidRequest(
            "min_workers: 0 (scale from zero) needs KEDA, which is not installed in the cluster; "
            "install KEDA or set min_workers to 1 or more"
        )


def _keda_may_be_installed() -> bool:
    """False only when the cluster answers and has no KEDA; without a reachable cluster the
    builder decides later (and fails with the same reason)."""
    from endpoints.manifests.autoscaling import KEDA_API_VERSION
    from llmengine_site.infra.kube import get_kube

    try:
        return get_kube().has_api(KEDA_API_VERSION, "ScaledObject")
    except InfraError:
        return True


@dataclass
class _Resources:
    cpus: str
    memory: str
    storage: str
    gpus: int
    gpu_type: str | None
    nodes_per_worker: int


def _validated_resources(res: _Resources) -> _Resources:
    validate_resources(cpus=res.cpus, memory=res.memory, storage=res.storage, gpus=res.gpus, gpu_type=res.gpu_type)
    _check_gpu_type_mapped(res.gpu_type)
    return res


# ----------------------------------------------------------------------------- LLM endpoints


def _llm_resources(data: dict) -> tuple[_Resources, bool]:
    """Explicit hardware, or the recommended hardware when none was given. The client always
    sends `nodes_per_worker: 1`, which alone does not count as "hardware given"."""
    given = [field for field in ("cpus", "gpus", "memory", "storage", "gpu_type") if field in data]
    if not given:
        hardware = infer_hardware(data["model_name"])
        return _Resources(
            hardware.cpus, hardware.memory, hardware.storage, hardware.gpus, hardware.gpu_type, hardware.nodes_per_worker
        ), True
    needed = ["cpus", "gpus", "memory", "storage"] + (["gpu_type"] if data.get("gpus") else [])
    missing = [field for field in needed if field not in data]
    if missing:
        raise InvalidRequest(
            f"All hardware fields (cpus, gpus, memory, storage, and gpu_type when gpus > 0) must be given "
            f"together, or none of them to use the recommended hardware; missing: {', '.join(missing)}"
        )
    return _Resources(
        data["cpus"], data["memory"], data["storage"], data["gpus"], data.get("gpu_type"),
        data.get("nodes_per_worker", 1),
    ), False


def _check_llm_settings(llm: LLMServingInput, endpoint_type: str, gpus: int) -> None:
    framework = llm.framework
    if llm.num_shards != gpus and gpus > 0:
        raise InvalidRequest(f"num_shards: {llm.num_shards} must be equal to the number of GPUs ({gpus})")
    if framework == InferenceFramework.DEEPSPEED and llm.num_shards <= 1:
        raise InvalidRequest("num_shards: DeepSpeed endpoints need more than 1 shard")
    if llm.quantize and llm.quantize not in SUPPORTED_QUANTIZATION.get(framework, ()):
        supported = ", ".join(SUPPORTED_QUANTIZATION.get(framework, ())) or "none"
        raise InvalidRequest(f"quantize: {llm.quantize} is not supported by {framework} (supported: {supported})")
    if llm.chat_template_override and framework != InferenceFramework.VLLM:
        raise InvalidRequest("chat_template_override: only vllm endpoints accept a chat template")
    if framework in STREAMING_ONLY_FRAMEWORKS and endpoint_type != EndpointType.STREAMING:
        raise InvalidRequest(
            f"endpoint_type: Creating endpoint type {endpoint_type} is not allowed. Can only create streaming "
            f"endpoints for {', '.join(STREAMING_ONLY_FRAMEWORKS)}."
        )
    if llm.nodes_per_worker > 1 and framework != InferenceFramework.VLLM:
        raise InvalidRequest("nodes_per_worker: multi-node workers are only supported for vllm")
    if framework == InferenceFramework.SGLANG and not llm.framework_args.get("huggingface_repo"):
        raise InvalidRequest("huggingface_repo: required for sglang endpoints")


def _hf_repo_for(model_name: str) -> str | None:
    row = ModelRepository.objects.filter(model_name=model_name).first()
    return row.hf_repo if row else None


def _serving_input(**fields) -> LLMServingInput:
    """What the endpoint serves, with the Hugging Face repo resolved when no checkpoint is given."""
    args = fields.get("framework_args") or {}
    hf_repo = args.get("huggingface_repo") or _hf_repo_for(fields["model_name"])
    if not fields.get("checkpoint_path") and not hf_repo:
        raise InvalidRequest(
            f"checkpoint_path: model {fields['model_name']!r} has no known Hugging Face repository; give "
            "checkpoint_path (an s3:// folder of safetensors weights) or add the model to the model repository "
            "table in the admin"
        )
    return LLMServingInput(hf_repo=hf_repo, **fields)


def _llm_bundle(caller: Caller, name: str, llm: LLMServingInput) -> ModelBundle:
    """Create the serving bundle (image, launch command, routes) of an LLM endpoint."""
    try:
        spec = llm_bundle(llm)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    flavor = spec.pop("flavor", BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE)
    check_image_exists(full_image(spec["repository"], spec["tag"]))
    return ModelBundle.objects.create(
        name=name, owner=caller.team_id, created_by=caller.user_id, flavor=flavor, spec=spec,
        schema_location="TBA", metadata={},
    )


def llm_endpoint_create(caller: Caller, data: dict, framework_args: dict) -> ModelEndpoint:
    """Create an LLM endpoint from a validated create body. Returns the row (UPDATE_PENDING)."""
    if data.get("checkpoint_path"):
        storage_scope.check_path(caller.team_id, "checkpoint_path", data["checkpoint_path"])
    framework = data["inference_framework"]
    endpoint_type = data.get("endpoint_type") or (
        EndpointType.STREAMING if framework in STREAMING_ONLY_FRAMEWORKS else EndpointType.SYNC
    )
    resources, inferred = _llm_resources(data)
    _validated_resources(resources)
    _check_workers(endpoint_type, data["min_workers"], data["max_workers"])
    num_shards = resources.gpus if inferred or "num_shards" not in data else data["num_shards"]
    llm = _serving_input(
        model_name=data["model_name"],
        framework=framework,
        image_tag=resolve_tag(framework, data["inference_framework_image_tag"]),
        num_shards=num_shards or 1,
        quantize=data.get("quantize"),
        checkpoint_path=data.get("checkpoint_path"),
        chat_template_override=data.get("chat_template_override"),
        framework_args=framework_args,
        nodes_per_worker=resources.nodes_per_worker,
        enable_startup_metrics=data.get("enable_startup_metrics", False),
        endpoint_type=endpoint_type,
    )
    _check_llm_settings(llm, endpoint_type, resources.gpus)
    if ModelEndpoint.objects.filter(is_llm=True, name=data["name"]).exists():
        raise InvalidRequest(ENDPOINT_EXISTS)
    return _create_endpoint(
        caller, data, resources, lambda: _llm_bundle(caller, data["name"], llm), endpoint_type=endpoint_type,
        is_llm=True, model_name=llm.model_name, source=data["source"], inference_framework=framework,
        inference_framework_image_tag=llm.image_tag, num_shards=llm.num_shards, quantize=llm.quantize,
        checkpoint_path=llm.checkpoint_path, chat_template_override=llm.chat_template_override,
        framework_args=framework_args, enable_startup_metrics=llm.enable_startup_metrics,
        concurrent_requests_per_worker=LLM_CONCURRENT_REQUESTS_PER_WORKER,
        public_inference=data.get("public_inference", True),
    )


def _create_endpoint(caller: Caller, data: dict, resources: _Resources, make_bundle, **fields) -> ModelEndpoint:
    """Insert the row (and its bundle) and enqueue its build, all or nothing; a name taken
    meanwhile (the unique constraints) is the same 400 as one taken before."""
    try:
        with transaction.atomic():
            endpoint = ModelEndpoint.objects.create(
                name=data["name"], owner=caller.team_id, created_by=caller.user_id, bundle=make_bundle(),
                **fields, **_common_fields(data, resources),
            )
            _record_event(endpoint, "", "created")
            _enqueue_sync(endpoint)
    except IntegrityError as exc:
        raise InvalidRequest(ENDPOINT_EXISTS) from exc
    endpoint.refresh_from_db()
    return endpoint


def _common_fields(data: dict, resources: _Resources) -> dict:
    return dict(
        metadata=data.get("metadata", {}),
        labels=data.get("labels", {}),
        min_workers=data["min_workers"], max_workers=data["max_workers"], per_worker=data["per_worker"],
        post_inference_hooks=data.get("post_inference_hooks", []),
        default_callback_url=data.get("default_callback_url"),
        default_callback_auth=data.get("default_callback_auth"),
        billing_tags=data.get("billing_tags"),
        prewarm=data.get("prewarm", True),
        high_priority=data.get("high_priority", False),
        optimize_costs=data.get("optimize_costs", False),
        task_expires_seconds=data.get("task_expires_seconds"),
        queue_message_timeout_seconds=data.get("queue_message_timeout_seconds"),
        cpus=resources.cpus, memory=resources.memory, storage=resources.storage or "",
        gpus=resources.gpus, gpu_type=resources.gpu_type, nodes_per_worker=resources.nodes_per_worker,
    )


_BUNDLE_CHANGING_FIELDS = ("model_name", "source", "inference_framework_image_tag", "num_shards", "quantize",
                           "checkpoint_path", "chat_template_override")
_UPDATABLE_FIELDS = ("min_workers", "max_workers", "per_worker", "post_inference_hooks", "default_callback_url",
                     "default_callback_auth", "billing_tags", "prewarm", "high_priority", "optimize_costs",
                     "public_inference", "task_expires_seconds", "queue_message_timeout_seconds",
                     "forwarder_max_concurrency", "concurrent_requests_per_worker")


def _apply_common_update(endpoint: ModelEndpoint, data: dict) -> None:
    """Nulls were stripped: every key present is a change. Metadata and labels merge."""
    if "default_callback_auth" in data:
        data = {**data, "default_callback_auth": keep_stored_callback_secret(
            data["default_callback_auth"], endpoint.default_callback_auth)}
    for field in _UPDATABLE_FIELDS:
        if field in data:
            setattr(endpoint, field, data[field])
    if "metadata" in data:
        endpoint.metadata = {**endpoint.metadata, **data["metadata"]}
    if "labels" in data:
        endpoint.labels = {**endpoint.labels, **data["labels"]}
    resources = _Resources(
        data.get("cpus", endpoint.cpus), data.get("memory", endpoint.memory), data.get("storage", endpoint.storage),
        data.get("gpus", endpoint.gpus), data.get("gpu_type", endpoint.gpu_type), endpoint.nodes_per_worker,
    )
    if resources.gpus == 0 and "gpu_type" not in data:
        resources.gpu_type = None
    _validated_resources(resources)
    endpoint.cpus, endpoint.memory, endpoint.storage = resources.cpus, resources.memory, resources.storage or ""
    endpoint.gpus, endpoint.gpu_type = resources.gpus, resources.gpu_type
    _check_workers(endpoint.endpoint_type, endpoint.min_workers, endpoint.max_workers)


def _save_update(endpoint: ModelEndpoint, old_status: str, reason: str) -> str:
    endpoint.status = EndpointStatus.UPDATE_PENDING
    endpoint.status_reason = ""
    endpoint.spec_version = F("spec_version") + 1
    endpoint.save()
    endpoint.refresh_from_db()
    _record_event(endpoint, old_status, reason)
    return _enqueue_sync(endpoint)


def llm_endpoint_update(caller: Caller, name: str, data: dict, framework_args: dict) -> str:
    """Apply a validated update body (nulls already stripped = not provided); returns the
    build task id. Accepted whatever the current build state, except during deletion."""
    if data.get("checkpoint_path"):
        storage_scope.check_path(caller.team_id, "checkpoint_path", data["checkpoint_path"])
    with transaction.atomic():
        endpoint = selectors.llm_endpoint_for_write(caller, name, for_update=True)
        _refuse_if_deleting(endpoint)
        old_status = endpoint.status
        _apply_common_update(endpoint, data)
        if "num_shards" in data:
            endpoint.num_shards = data["num_shards"]
        bundle_changes = any(field in data for field in _BUNDLE_CHANGING_FIELDS) or data.get("force_bundle_recreation")
        if framework_args:
            endpoint.framework_args = {**endpoint.framework_args, **framework_args}
            bundle_changes = True
        if bundle_changes:
            for field in ("model_name", "source", "quantize", "checkpoint_path", "chat_template_override",
                          "enable_startup_metrics"):
                if field in data:
                    setattr(endpoint, field, data[field])
            if "inference_framework_image_tag" in data:
                endpoint.inference_framework_image_tag = resolve_tag(
                    endpoint.inference_framework, data["inference_framework_image_tag"]
                )
            llm = _serving_input(
                model_name=endpoint.model_name, framework=endpoint.inference_framework,
                image_tag=endpoint.inference_framework_image_tag, num_shards=endpoint.num_shards or 1,
                quantize=endpoint.quantize, checkpoint_path=endpoint.checkpoint_path,
                chat_template_override=endpoint.chat_template_override, framework_args=endpoint.framework_args,
                nodes_per_worker=endpoint.nodes_per_worker, enable_startup_metrics=endpoint.enable_startup_metrics,
                endpoint_type=endpoint.endpoint_type,
            )
            _check_llm_settings(llm, endpoint.endpoint_type, endpoint.gpus)
            endpoint.bundle = _llm_bundle(caller, endpoint.name, llm)
        elif "gpus" in data and endpoint.gpus and endpoint.num_shards != endpoint.gpus:
            raise InvalidRequest(f"num_shards: {endpoint.num_shards} must be equal to the number of GPUs ({endpoint.gpus})")
        return _save_update(endpoint, old_status, "updated")


def _refuse_if_deleting(endpoint: ModelEndpoint) -> None:
    if endpoint.status == EndpointStatus.DELETE_IN_PROGRESS:
        raise InvalidRequest(f"Model endpoint {endpoint.name} is being deleted; it cannot be changed.")


def endpoint_delete(endpoint: ModelEndpoint) -> None:
    """Mark the endpoint DELETE_IN_PROGRESS and enqueue its teardown; the builder removes the
    row once every Kubernetes object and the queue are gone. Idempotent."""
    with transaction.atomic():
        locked = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        old_status = locked.status
        if old_status != EndpointStatus.DELETE_IN_PROGRESS:
            locked.status = EndpointStatus.DELETE_IN_PROGRESS
            locked.status_reason = ""
            locked.spec_version = F("spec_version") + 1
            locked.save(update_fields=["status", "status_reason", "spec_version", "last_updated_at"])
            locked.refresh_from_db()
            _record_event(locked, old_status, "delete requested")
        _enqueue_sync(locked)


def endpoint_restart(endpoint: ModelEndpoint) -> None:
    """Roll the endpoint's pods (a rollout restart of its Deployment)."""
    from endpoints.builder import restart_endpoint_pods

    if endpoint.nodes_per_worker > 1:
        raise InvalidRequest(f"Restarting model endpoint {endpoint.id} is not supported")
    restart_endpoint_pods(endpoint)


# ----------------------------------------------------------------------------- generic endpoints


def _check_bundle_for_endpoint(bundle: ModelBundle, endpoint_type: str, per_worker: int) -> None:
    if bundle.flavor not in SUPPORTED_BUNDLE_FLAVORS:
        raise InvalidRequest(f"model_bundle_id: bundles of flavor {bundle.flavor} are not supported by this deployment")
    if endpoint_type == EndpointType.STREAMING:
        if bundle.flavor != BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE:
            raise InvalidRequest(
                "endpoint_type: streaming endpoints need a bundle of flavor streaming_enhanced_runnable_image"
            )
        if per_worker != 1:
            raise InvalidRequest("per_worker: must be 1 for streaming endpoints")


def _concurrency(endpoint_type: str, per_worker: int, requested: int | None) -> int:
    value = requested if requested is not None else min(per_worker, MAX_ASYNC_CONCURRENCY)
    if endpoint_type == EndpointType.ASYNC and value > MAX_ASYNC_CONCURRENCY:
        raise InvalidRequest(f"concurrent_requests_per_worker: must be at most {MAX_ASYNC_CONCURRENCY} for async endpoints")
    return value


def endpoint_create(caller: Caller, data: dict) -> ModelEndpoint:
    bundle = selectors.bundle_owned_by(caller, data["model_bundle_id"])
    endpoint_type = data["endpoint_type"]
    _check_bundle_for_endpoint(bundle, endpoint_type, data["per_worker"])
    resources = _validated_resources(_Resources(
        data["cpus"], data["memory"], data["storage"], data["gpus"], data.get("gpu_type"),
        data.get("nodes_per_worker", 1),
    ))
    _check_workers(endpoint_type, data["min_workers"], data["max_workers"])
    concurrency = _concurrency(endpoint_type, data["per_worker"], data.get("concurrent_requests_per_worker"))
    if ModelEndpoint.objects.filter(owner=caller.team_id, name=data["name"]).exists():
        raise InvalidRequest(ENDPOINT_EXISTS)
    return _create_endpoint(
        caller, data, resources, lambda: bundle, endpoint_type=endpoint_type,
        concurrent_requests_per_worker=concurrency, forwarder_max_concurrency=data.get("forwarder_max_concurrency"),
        public_inference=data.get("public_inference", False),
    )


def endpoint_update(caller: Caller, endpoint_id: str, data: dict) -> str:
    with transaction.atomic():
        endpoint = selectors.endpoint_owned_by(caller, endpoint_id, for_update=True)
        _refuse_if_deleting(endpoint)
        old_status = endpoint.status
        _apply_common_update(endpoint, data)
        if "model_bundle_id" in data:
            endpoint.bundle = selectors.bundle_owned_by(caller, data["model_bundle_id"])
        _check_bundle_for_endpoint(endpoint.bundle, endpoint.endpoint_type, endpoint.per_worker)
        if "concurrent_requests_per_worker" in data or "per_worker" in data:
            endpoint.concurrent_requests_per_worker = _concurrency(
                endpoint.endpoint_type, endpoint.per_worker, data.get("concurrent_requests_per_worker")
            )
        return _save_update(endpoint, old_status, "updated")


# ----------------------------------------------------------------------------- bundles


def bundle_create(caller: Caller, name: str, flavor: dict, metadata: dict, schema_location: str | None) -> ModelBundle:
    flavor = dict(flavor)
    flavor_name = flavor.pop("flavor")
    if flavor_name not in SUPPORTED_BUNDLE_FLAVORS:
        raise InvalidRequest(
            f"flavor: {flavor_name} bundles are not supported by this deployment; use runnable_image or "
            "streaming_enhanced_runnable_image with an image you built"
        )
    check_image_exists(full_image(flavor["repository"], flavor["tag"]))
    return ModelBundle.objects.create(
        name=name, owner=caller.team_id, created_by=caller.user_id, flavor=flavor_name, spec=flavor,
        metadata=metadata or {}, schema_location=schema_location,
        app_config=flavor.pop("app_config", None),
    )


def bundle_clone(caller: Caller, original_id: str, new_app_config: dict | None) -> ModelBundle:
    original = selectors.bundle_owned_by(caller, original_id)
    return ModelBundle.objects.create(
        name=original.name, owner=caller.team_id, created_by=caller.user_id, flavor=original.flavor,
        spec=dict(original.spec), metadata=dict(original.metadata), schema_location=original.schema_location,
        app_config=new_app_config if new_app_config is not None else original.app_config,
    )


def endpoint_rebuild(endpoint: ModelEndpoint) -> str:
    """Re-run the build of the current spec (operator action; also clears UPDATE_FAILED)."""
    with transaction.atomic():
        locked = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        _refuse_if_deleting(locked)
        return _save_update(locked, locked.status, "rebuild requested")
