"""Writes of endpoints, generic and LLM alike: create, update, delete, rebuild, restart.

Every write validates (network checks first, outside any transaction), writes the row and its
event inside one transaction, bumps `spec_version` and enqueues the build after commit."""
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F

from endpoints import selectors
from endpoints.builder import restart_endpoint_pods
from endpoints.callback_auth import keep_stored_callback_secret
from endpoints.choices import SUPPORTED_BUNDLE_FLAVORS, BundleFlavor, EndpointStatus, EndpointType
from endpoints.inference.routing import forget
from endpoints.models import ModelBundle, ModelEndpoint
from endpoints.services.checks import Resources, check_workers, validated_resources
from endpoints.status import record_event
from endpoints.tasks import sync_endpoint
from llmengine_site import ids
from llmengine_site.auth import Caller
from llmengine_site.errors import Conflict, InvalidRequest
from llmengine_site.transient import best_effort

MAX_ASYNC_CONCURRENCY = 20
ENDPOINT_EXISTS = "The specified model endpoint already exists."
WRITE_ATTEMPTS = 3
# Written by the builder and the reconciler while an update is being checked: never overwritten by it.
BUILDER_OWNED_FIELDS = ("status", "status_reason", "synced_version", "destination", "creation_task_id")

_UPDATABLE_FIELDS = ("min_workers", "max_workers", "per_worker", "post_inference_hooks", "default_callback_url",
                     "default_callback_auth", "billing_tags", "prewarm", "high_priority", "optimize_costs",
                     "public_inference", "task_expires_seconds", "queue_message_timeout_seconds",
                     "forwarder_max_concurrency", "concurrent_requests_per_worker")


def enqueue_sync(endpoint: ModelEndpoint) -> str:
    """Send the build for this endpoint once the transaction commits; returns the task id."""
    task_id = ids.task_id()
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(creation_task_id=task_id)
    endpoint_id, name = endpoint.pk, endpoint.name
    # Best effort (docs/operations.md#when-redis-or-kubernetes-is-down): the write has committed;
    # cached routes expire by themselves and the cacher re-sends a build that was not sent.
    def after_commit():
        best_effort("route cache invalidation", forget, endpoint_id, name)  # the new spec from now on
        best_effort(f"build message of endpoint {endpoint_id}", sync_endpoint.send, endpoint_id)

    transaction.on_commit(after_commit)
    return task_id


def create_endpoint(caller: Caller, data: dict, resources: Resources, make_bundle, **fields) -> ModelEndpoint:
    """Insert the row (and its bundle) and enqueue its build, all or nothing; a name taken
    meanwhile (the unique constraints) is the same 400 as one taken before. `make_bundle` only
    writes: every check has run before."""
    try:
        with transaction.atomic():
            endpoint = ModelEndpoint.objects.create(
                name=data["name"], owner=caller.team_id, created_by=caller.user_id, bundle=make_bundle(),
                **fields, **_common_fields(data, resources),
            )
            record_event(endpoint, "", "created")
            enqueue_sync(endpoint)
    except IntegrityError as exc:
        raise InvalidRequest(ENDPOINT_EXISTS) from exc
    endpoint.refresh_from_db()
    return endpoint


def _common_fields(data: dict, resources: Resources) -> dict:
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


def apply_common_update(endpoint: ModelEndpoint, data: dict) -> None:
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
    resources = Resources(
        data.get("cpus", endpoint.cpus), data.get("memory", endpoint.memory), data.get("storage", endpoint.storage),
        data.get("gpus", endpoint.gpus), data.get("gpu_type", endpoint.gpu_type), endpoint.nodes_per_worker,
    )
    if resources.gpus == 0 and "gpu_type" not in data:
        resources.gpu_type = None
    validated_resources(resources)
    endpoint.cpus, endpoint.memory, endpoint.storage = resources.cpus, resources.memory, resources.storage or ""
    endpoint.gpus, endpoint.gpu_type = resources.gpus, resources.gpu_type
    check_workers(endpoint.endpoint_type, endpoint.min_workers, endpoint.max_workers)


def _save_update(endpoint: ModelEndpoint, old_status: str, reason: str) -> str:
    endpoint.status = EndpointStatus.UPDATE_PENDING
    endpoint.status_reason = ""
    endpoint.spec_version = F("spec_version") + 1
    endpoint.save()
    endpoint.refresh_from_db()
    record_event(endpoint, old_status, reason)
    return enqueue_sync(endpoint)


def save_checked_update(read: Callable[[], ModelEndpoint],
                        prepare: Callable[[ModelEndpoint], Callable[[ModelEndpoint], None] | None]) -> str:
    """Apply an update: `prepare` changes and checks a copy of the row read without a lock (it
    may ask the registry or the cluster) and may return a step that writes inside the
    transaction; the row is then locked and saved only if its spec did not change meanwhile
    (else the whole update is tried again). Returns the build task id."""
    for _attempt in range(WRITE_ATTEMPTS):
        endpoint = read()
        refuse_if_deleting(endpoint)
        write_step = prepare(endpoint)
        with transaction.atomic():
            locked = ModelEndpoint.objects.select_for_update().filter(
                pk=endpoint.pk, spec_version=endpoint.spec_version
            ).first()
            if locked is None:
                continue  # changed (or deleted) while we checked: check again
            for field in BUILDER_OWNED_FIELDS:
                setattr(endpoint, field, getattr(locked, field))
            if write_step is not None:
                write_step(endpoint)
            return _save_update(endpoint, locked.status, "updated")
    raise Conflict(f"Model endpoint {endpoint.name} is being changed by another request; retry the update.")


def refuse_if_deleting(endpoint: ModelEndpoint) -> None:
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
            record_event(locked, old_status, "delete requested")
        enqueue_sync(locked)


def endpoint_restart(endpoint: ModelEndpoint) -> None:
    """Roll the endpoint's pods (a rollout restart of its Deployment)."""
    if endpoint.nodes_per_worker > 1:
        raise InvalidRequest(f"Restarting model endpoint {endpoint.id} is not supported")
    restart_endpoint_pods(endpoint)


def endpoint_rebuild(endpoint: ModelEndpoint) -> str:
    """Re-run the build of the current spec (operator action; also clears UPDATE_FAILED)."""
    with transaction.atomic():
        locked = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        refuse_if_deleting(locked)
        return _save_update(locked, locked.status, "rebuild requested")


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
    resources = validated_resources(Resources(
        data["cpus"], data["memory"], data["storage"], data["gpus"], data.get("gpu_type"),
        data.get("nodes_per_worker", 1),
    ))
    check_workers(endpoint_type, data["min_workers"], data["max_workers"])
    concurrency = _concurrency(endpoint_type, data["per_worker"], data.get("concurrent_requests_per_worker"))
    if ModelEndpoint.objects.filter(owner=caller.team_id, name=data["name"]).exists():
        raise InvalidRequest(ENDPOINT_EXISTS)
    return create_endpoint(
        caller, data, resources, lambda: bundle, endpoint_type=endpoint_type,
        concurrent_requests_per_worker=concurrency, forwarder_max_concurrency=data.get("forwarder_max_concurrency"),
        public_inference=data.get("public_inference", False),
    )


def endpoint_update(caller: Caller, endpoint_id: str, data: dict) -> str:
    def prepare(endpoint: ModelEndpoint) -> None:
        apply_common_update(endpoint, data)
        if "model_bundle_id" in data:
            endpoint.bundle = selectors.bundle_owned_by(caller, data["model_bundle_id"])
        _check_bundle_for_endpoint(endpoint.bundle, endpoint.endpoint_type, endpoint.per_worker)
        if "concurrent_requests_per_worker" in data or "per_worker" in data:
            endpoint.concurrent_requests_per_worker = _concurrency(
                endpoint.endpoint_type, endpoint.per_worker, data.get("concurrent_requests_per_worker")
            )

    return save_checked_update(lambda: selectors.endpoint_owned_by(caller, endpoint_id), prepare)
