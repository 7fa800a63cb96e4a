"""Writes of LLM endpoints: hardware, framework settings and the serving bundle of a model."""
from endpoints import selectors
from endpoints.choices import STREAMING_ONLY_FRAMEWORKS, SUPPORTED_QUANTIZATION, EndpointType, InferenceFramework
from endpoints.frameworks.launch import LLMServingInput
from endpoints.hardware import infer_hardware
from endpoints.images import resolve_tag
from endpoints.resources import hardware_given
from endpoints.models import ModelEndpoint
from endpoints.services.bundles import llm_bundle_row, llm_bundle_spec
from endpoints.services.checks import Resources, check_workers, validated_resources
from endpoints.services.endpoints import (
    ENDPOINT_EXISTS,
    apply_common_update,
    create_endpoint,
    endpoint_update,
    save_checked_update,
)
from llmengine_site import storage_scope
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest

LLM_CONCURRENT_REQUESTS_PER_WORKER = 250  # the engine batches; the forwarder should not queue

_BUNDLE_CHANGING_FIELDS = ("model_name", "source", "inference_framework_image_tag", "num_shards", "quantize",
                           "checkpoint_path", "chat_template_override")


def _llm_resources(data: dict) -> tuple[Resources, bool]:
    """Explicit hardware, or the recommended hardware when none was given. The client always
    sends `nodes_per_worker: 1`, which alone does not count as "hardware given"."""
    if not hardware_given(data):
        hardware = infer_hardware(data["model_name"])
        return Resources(
            hardware.cpus, hardware.memory, hardware.storage, hardware.gpus, hardware.gpu_type, hardware.nodes_per_worker
        ), True
    return Resources(
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


def _serving_input(**fields) -> LLMServingInput:
    """What the endpoint serves, with the Hugging Face repo resolved when no checkpoint is given."""
    args = fields.get("framework_args") or {}
    hf_repo = args.get("huggingface_repo") or selectors.hf_repo_for(fields["model_name"])
    if not fields.get("checkpoint_path") and not hf_repo:
        raise InvalidRequest(
            f"checkpoint_path: model {fields['model_name']!r} has no known Hugging Face repository; give "
            "checkpoint_path (an s3:// folder of safetensors weights) or add the model to the model repository "
            "table in the admin"
        )
    return LLMServingInput(hf_repo=hf_repo, **fields)


def llm_endpoint_create(caller: Caller, data: dict, framework_args: dict) -> ModelEndpoint:
    """Create an LLM endpoint from a validated create body. Returns the row (UPDATE_PENDING)."""
    if data.get("checkpoint_path"):
        storage_scope.check_path(caller.team_id, "checkpoint_path", data["checkpoint_path"])
    framework = data["inference_framework"]
    endpoint_type = data.get("endpoint_type") or (
        EndpointType.STREAMING if framework in STREAMING_ONLY_FRAMEWORKS else EndpointType.SYNC
    )
    resources, inferred = _llm_resources(data)
    validated_resources(resources)
    check_workers(endpoint_type, data["min_workers"], data["max_workers"])
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
    spec = llm_bundle_spec(llm)  # the registry check, before the transaction
    return create_endpoint(
        caller, data, resources, lambda: llm_bundle_row(caller, data["name"], spec), endpoint_type=endpoint_type,
        is_llm=True, model_name=llm.model_name, source=data["source"], inference_framework=framework,
        inference_framework_image_tag=llm.image_tag, num_shards=llm.num_shards, quantize=llm.quantize,
        checkpoint_path=llm.checkpoint_path, chat_template_override=llm.chat_template_override,
        framework_args=framework_args, enable_startup_metrics=llm.enable_startup_metrics,
        concurrent_requests_per_worker=LLM_CONCURRENT_REQUESTS_PER_WORKER,
        public_inference=data.get("public_inference", True),
    )


def _apply_bundle_changes(endpoint: ModelEndpoint, data: dict) -> dict:
    """Apply the fields that change the serving bundle; returns the new bundle's spec (its image
    checked in the registry)."""
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
    return llm_bundle_spec(llm)


def llm_endpoint_update(caller: Caller, name: str, data: dict, framework_args: dict) -> str:
    """Apply a validated update body (nulls already stripped = not provided); returns the
    build task id. Accepted whatever the current build state, except during deletion."""
    if data.get("checkpoint_path"):
        storage_scope.check_path(caller.team_id, "checkpoint_path", data["checkpoint_path"])

    def prepare(endpoint: ModelEndpoint):
        apply_common_update(endpoint, data)
        if "num_shards" in data:
            endpoint.num_shards = data["num_shards"]
        bundle_changes = any(field in data for field in _BUNDLE_CHANGING_FIELDS) or data.get("force_bundle_recreation")
        if framework_args:
            endpoint.framework_args = {**endpoint.framework_args, **framework_args}
            bundle_changes = True
        if bundle_changes:
            spec = _apply_bundle_changes(endpoint, data)
            return lambda row: setattr(row, "bundle", llm_bundle_row(caller, row.name, spec))
        if "gpus" in data and endpoint.gpus and endpoint.num_shards != endpoint.gpus:
            raise InvalidRequest(f"num_shards: {endpoint.num_shards} must be equal to the number of GPUs ({endpoint.gpus})")
        return None

    return save_checked_update(lambda: selectors.llm_endpoint_for_write(caller, name), prepare)


def endpoint_scale(endpoint: ModelEndpoint, min_workers: int, max_workers: int) -> None:
    """Change the worker bounds (the console's scale action) through the update service the API
    uses, acting for the owner."""
    caller = Caller(user_id=endpoint.created_by, team_id=endpoint.owner)
    data = {"min_workers": min_workers, "max_workers": max_workers}
    if endpoint.is_llm:
        llm_endpoint_update(caller, endpoint.name, data, framework_args={})
    else:
        endpoint_update(caller, endpoint.id, data)
