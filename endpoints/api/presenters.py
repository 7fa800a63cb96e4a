"""Response bodies of endpoints and bundles (docs/wire-contract.md#generic-model-endpoints,
docs/wire-contract.md#model-bundles)."""
from django.conf import settings

from endpoints.callback_auth import callback_auth_body
from endpoints.choices import BundleFlavor, EndpointType
from endpoints.models import ModelBundle, ModelEndpoint
from llmengine_site.names import endpoint_group_name, endpoint_queue_name


def _iso(value) -> str:
    return value.isoformat()


def endpoint_body(endpoint: ModelEndpoint, state: dict | None) -> dict:
    """GetModelEndpointV1Response: desired values at once, observed numbers when known."""
    state = state or {}
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "endpoint_type": endpoint.endpoint_type,
        "destination": endpoint.destination,
        "deployment_name": endpoint_group_name(endpoint.id),
        "metadata": endpoint.metadata,
        "bundle_name": endpoint.bundle.name,
        "status": endpoint.status,
        "status_reason": endpoint.status_reason or None,
        "post_inference_hooks": endpoint.post_inference_hooks or None,
        "default_callback_url": endpoint.default_callback_url,
        "default_callback_auth": callback_auth_body(endpoint.default_callback_auth),
        "labels": endpoint.labels,
        "aws_role": None,
        "results_s3_bucket": settings.LLME_S3_BUCKET or None,
        "created_by": endpoint.created_by,
        "created_at": _iso(endpoint.created_at),
        "last_updated_at": _iso(endpoint.last_updated_at),
        "deployment_state": {
            "min_workers": endpoint.min_workers,
            "max_workers": endpoint.max_workers,
            "per_worker": endpoint.per_worker,
            "concurrent_requests_per_worker": endpoint.concurrent_requests_per_worker,
            "forwarder_max_concurrency": endpoint.forwarder_max_concurrency,
            "available_workers": state.get("available_workers"),
            "unavailable_workers": state.get("unavailable_workers"),
        },
        "resource_state": {
            "cpus": endpoint.cpus,
            "gpus": endpoint.gpus,
            "memory": endpoint.memory,
            "gpu_type": endpoint.gpu_type,
            "storage": endpoint.storage or None,
            "nodes_per_worker": endpoint.nodes_per_worker,
            "optimize_costs": endpoint.optimize_costs,
        },
        "num_queued_items": state.get("num_queued_items") if endpoint.endpoint_type == EndpointType.ASYNC else None,
        "public_inference": endpoint.public_inference,
        "task_expires_seconds": endpoint.task_expires_seconds,
        "queue_message_timeout_seconds": endpoint.queue_message_timeout_seconds,
    }


def llm_endpoint_body(endpoint: ModelEndpoint, state: dict | None) -> dict:
    """GetLLMModelEndpointV1Response. `inference_framework_tag` is the name the official
    client reads (docs/wire-contract.md#parse-traps); both are sent."""
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "model_name": endpoint.model_name,
        "source": endpoint.source,
        "status": endpoint.status,
        "status_reason": endpoint.status_reason or None,
        "inference_framework": endpoint.inference_framework,
        "inference_framework_image_tag": endpoint.inference_framework_image_tag,
        "inference_framework_tag": endpoint.inference_framework_image_tag,
        "num_shards": endpoint.num_shards,
        "quantize": endpoint.quantize,
        "checkpoint_path": endpoint.checkpoint_path,
        "chat_template_override": endpoint.chat_template_override,
        "task_expires_seconds": endpoint.task_expires_seconds,
        "queue_message_timeout_seconds": endpoint.queue_message_timeout_seconds,
        "spec": endpoint_body(endpoint, state),
    }


def bundle_v2_body(bundle: ModelBundle) -> dict:
    flavor = {"flavor": bundle.flavor, **bundle.spec}
    if bundle.app_config is not None:
        flavor["app_config"] = bundle.app_config
    return {
        "id": bundle.id,
        "name": bundle.name,
        "metadata": bundle.metadata,
        "created_at": _iso(bundle.created_at),
        "model_artifact_ids": bundle.model_artifact_ids,
        "schema_location": bundle.schema_location,
        "flavor": flavor,
    }


def bundle_v1_body(bundle: ModelBundle) -> dict:
    """The v1 shape, for runnable-image bundles: the image stands where v1 had a base image."""
    return {
        "id": bundle.id,
        "name": bundle.name,
        "location": "",
        "requirements": [],
        "env_params": {
            "framework_type": "custom_base_image",
            "ecr_repo": bundle.image_repository,
            "image_tag": bundle.image_tag,
        },
        "packaging_type": "lira",
        "metadata": bundle.metadata,
        "app_config": bundle.app_config,
        "created_at": _iso(bundle.created_at),
        "model_artifact_ids": bundle.model_artifact_ids,
        "schema_location": bundle.schema_location,
    }


def destination_for(endpoint: ModelEndpoint) -> str:
    """What `destination` reads once built: the Service for sync/streaming, the queue for async."""
    if endpoint.endpoint_type == EndpointType.ASYNC:
        return endpoint_queue_name(endpoint.id)
    return endpoint_group_name(endpoint.id)


__all__ = ["BundleFlavor", "bundle_v1_body", "bundle_v2_body", "endpoint_body", "llm_endpoint_body", "destination_for"]
