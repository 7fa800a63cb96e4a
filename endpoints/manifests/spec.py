"""Inputs of the manifest functions: plain frozen dataclasses, no Django models.

The builder fills an `EndpointSpec` from the endpoint row and its bundle; everything the
Kubernetes objects depend on is in here, so rendering is a pure function of the spec (plus a
few settings read at call time).
"""
from dataclasses import dataclass, field
from typing import Mapping

from endpoints.images import full_image

ENDPOINT_TYPES = ("sync", "streaming", "async")


@dataclass(frozen=True)
class BundleSpec:
    """What runs in the `main` container.

    image: full image reference (registry/repository:tag).
    command: the container command (`["/bin/bash", "-c", ...]` for LLM bundles).
    env: extra environment of `main` (values may use Kubernetes `$(VAR)` references).
    predict_route / streaming_predict_route / healthcheck_route: routes on port 5005.
    routes, extra_routes: further POST routes the forwarder exposes and relays.
    readiness_initial_delay_seconds: first readiness probe delay of both containers.
    worker_command / worker_env: multi-node (LeaderWorkerSet) worker pods; None otherwise.
    """

    image: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    predict_route: str = "/predict"
    streaming_predict_route: str | None = "/stream"
    healthcheck_route: str = "/readyz"
    routes: tuple[str, ...] = ()
    extra_routes: tuple[str, ...] = ()
    readiness_initial_delay_seconds: int = 10
    worker_command: tuple[str, ...] | None = None
    worker_env: Mapping[str, str] | None = None


def bundle_spec_from(spec: dict, endpoint_type: str) -> BundleSpec:
    """BundleSpec of a bundle's stored `spec` (what `endpoints.frameworks.launch.llm_bundle(...)`
    returns for an LLM endpoint): the image prefixed with LLME_DOCKER_REPO_PREFIX, the streaming
    command for a streaming endpoint whose bundle has one. The builder's one path."""
    streaming = endpoint_type == "streaming" and spec.get("streaming_command")
    command = spec.get("streaming_command") if streaming else spec.get("command")
    return BundleSpec(
        image=full_image(spec["repository"], spec["tag"]),
        command=tuple(command or ()),
        env=dict(spec.get("env") or {}),
        predict_route=spec.get("predict_route", "/predict"),
        streaming_predict_route=spec.get("streaming_predict_route"),
        healthcheck_route=spec.get("healthcheck_route", "/readyz"),
        routes=tuple(spec.get("routes") or ()),
        extra_routes=tuple(spec.get("extra_routes") or ()),
        readiness_initial_delay_seconds=int(spec.get("readiness_initial_delay_seconds") or 10),
        worker_command=tuple(spec["worker_command"]) if spec.get("worker_command") else None,
        worker_env=dict(spec["worker_env"]) if spec.get("worker_env") else None,
    )


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint as the cluster should run it.

    id, name, owner, created_by: identity (name/owner may be any text; labels get safe forms).
    endpoint_type: "sync" | "streaming" | "async".
    bundle: the main container (see BundleSpec).
    cpus, memory, storage: Kubernetes quantities of `main` (requests = limits); storage None
        means no ephemeral-storage request.
    gpus, gpu_type: `nvidia.com/gpu` count and the GpuType choice (mapped to a node label).
    nodes_per_worker: pods per replica; > 1 renders a LeaderWorkerSet (vLLM multi-node).
    min_workers, max_workers: replica bounds; per_worker: autoscaling target (in-flight
        requests per replica for sync/streaming, queued messages per replica for async).
    concurrent_requests_per_worker: async consumer concurrency and default forwarder limit.
    forwarder_max_concurrency: overrides the forwarder's HTTP concurrency limit.
    labels: the user's labels; only `team` and `product` are copied onto objects.
    high_priority: priority class `llm-engine-high-priority`.
    optimize_costs: a VPA is rendered when the VPA CRD exists.
    queue_name, queue_url, queue_backend ("sqs" | "redis"; None = LLME_QUEUE_BACKEND),
        queue_visibility_timeout_seconds, task_expires_seconds: async endpoints.
    post_inference_hooks, default_callback_url: copied into the forwarder's config.
    service_account_name: pods' service account (None = LLME_ENDPOINT_SERVICE_ACCOUNT or the
        namespace default); IRSA on it gives S3 access for weights and SQS for async.
    spec_version: the row's spec_version, stored in annotation `llm-engine.io/spec-version`.
    """

    id: str
    name: str
    owner: str
    created_by: str
    endpoint_type: str
    bundle: BundleSpec
    cpus: str
    memory: str
    storage: str | None = None
    gpus: int = 0
    gpu_type: str | None = None
    nodes_per_worker: int = 1
    min_workers: int = 1
    max_workers: int = 1
    per_worker: int = 1
    concurrent_requests_per_worker: int = 1
    forwarder_max_concurrency: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    high_priority: bool = False
    optimize_costs: bool = False
    queue_name: str | None = None
    queue_url: str | None = None
    queue_backend: str | None = None
    queue_visibility_timeout_seconds: int | None = None
    task_expires_seconds: int = 86400
    post_inference_hooks: tuple[str, ...] = ()
    default_callback_url: str | None = None
    service_account_name: str | None = None
    spec_version: int = 0

    @property
    def is_async(self) -> bool:
        return self.endpoint_type == "async"

    @property
    def is_multi_node(self) -> bool:
        return self.nodes_per_worker > 1


def check_spec(spec: EndpointSpec) -> None:
    """ValueError, written for the API caller, for a spec no cluster could run."""
    if spec.endpoint_type not in ENDPOINT_TYPES:
        raise ValueError(f"endpoint_type must be one of {', '.join(ENDPOINT_TYPES)} (got {spec.endpoint_type!r})")
    if spec.min_workers < 0 or spec.max_workers < max(spec.min_workers, 1):
        raise ValueError("workers must satisfy 0 <= min_workers <= max_workers and max_workers >= 1")
    if spec.per_worker < 1 or spec.concurrent_requests_per_worker < 1:
        raise ValueError("per_worker and concurrent_requests_per_worker must be at least 1")
    if spec.gpus < 0:
        raise ValueError("gpus must not be negative")
    if spec.gpus > 0 and not spec.gpu_type:
        raise ValueError("gpu_type is required when gpus > 0")
    if spec.gpus == 0 and spec.gpu_type:
        raise ValueError("gpu_type is set but gpus is 0")
    if spec.nodes_per_worker < 1:
        raise ValueError("nodes_per_worker must be at least 1")
    if spec.is_async and not spec.queue_name:
        raise ValueError("async endpoints need queue_name")
