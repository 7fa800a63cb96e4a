"""The endpoint builder: converge Kubernetes objects and the queue with the endpoint row.

Idempotent (server-side apply; deletes treat 404 as done), safe to run twice or concurrently
with an update (status moves are conditional on `spec_version`), and honest: READY only once
the rollout has an available worker (or at once for a scale-from-zero endpoint)."""
import logging

from django.conf import settings

from endpoints.choices import EndpointStatus, EndpointType
from endpoints.manifests import render_endpoint
from endpoints.manifests.autoscaling import KEDA_API_VERSION
from endpoints.manifests.lws import LWS_API_VERSION
from endpoints.manifests.render import endpoint_object_kinds
from endpoints.manifests.spec import BundleSpec, EndpointSpec, bundle_spec_from
from endpoints.models import ModelEndpoint
from endpoints.status import endpoint_record_status
from endpoints import infra_state, redis_acl
from endpoints.inference.routing import forget as forget_route
from endpoints.locks import endpoint_lock
from llmengine_site.infra import InfraError, queues
from llmengine_site.infra.kube import KubeClient, get_kube
from llmengine_site.labels import SPEC_HASH, endpoint_selector
from llmengine_site.names import endpoint_group_name, endpoint_queue_name
from llmengine_site.transient import best_effort

logger = logging.getLogger(__name__)

NOT_CONFIGURED_HINT = " Endpoints are accepted without a cluster; set KUBECONFIG (or run in-cluster) and rebuild."


def bundle_spec(endpoint: ModelEndpoint) -> BundleSpec:
    return bundle_spec_from(endpoint.bundle.spec, endpoint.endpoint_type)


def endpoint_spec(endpoint: ModelEndpoint, queue_url: str | None = None) -> EndpointSpec:
    """The row (and its bundle) as the pure input of the manifest functions."""
    is_async = endpoint.endpoint_type == EndpointType.ASYNC
    return EndpointSpec(
        id=endpoint.id, name=endpoint.name, owner=endpoint.owner, created_by=endpoint.created_by,
        endpoint_type=endpoint.endpoint_type, bundle=bundle_spec(endpoint),
        cpus=endpoint.cpus, memory=endpoint.memory, storage=endpoint.storage or None,
        gpus=endpoint.gpus, gpu_type=endpoint.gpu_type, nodes_per_worker=endpoint.nodes_per_worker,
        min_workers=endpoint.min_workers, max_workers=endpoint.max_workers, per_worker=endpoint.per_worker,
        concurrent_requests_per_worker=endpoint.concurrent_requests_per_worker,
        forwarder_max_concurrency=endpoint.forwarder_max_concurrency,
        labels=endpoint.labels, high_priority=endpoint.high_priority, optimize_costs=endpoint.optimize_costs,
        queue_name=endpoint_queue_name(endpoint.id) if is_async else None,
        queue_url=queue_url,
        queue_visibility_timeout_seconds=endpoint.queue_message_timeout_seconds,
        task_expires_seconds=endpoint.task_expires_seconds or 86400,
        post_inference_hooks=tuple(endpoint.post_inference_hooks or ()),
        default_callback_url=endpoint.default_callback_url,
        spec_version=endpoint.spec_version,
    )


def preview_queue_url(endpoint: ModelEndpoint, look_up: bool = True) -> str | None:
    """The queue URL to show in a preview (console page, `render_endpoint_manifests`) of an async
    endpoint: the existing queue's when `look_up` finds it, else the URL SQS gives a queue of
    that name in the configured region and account (the builder creates it on the next build).
    None for other endpoints. Never creates anything; a failed look-up falls back quietly."""
    if endpoint.endpoint_type != EndpointType.ASYNC:
        return None
    if look_up:
        try:
            found = queues.queue_url(endpoint.id)
        except InfraError:
            found = None
        if found:
            return found
    region = settings.LLME_AWS_REGION
    account = settings.LLME_AWS_ACCOUNT_ID or "<account-id>"
    return f"https://sqs.{region}.amazonaws.com/{account}/{endpoint_queue_name(endpoint.id)}"


def render_for_cluster(kube: KubeClient, endpoint: ModelEndpoint, queue_url: str | None = None) -> list[dict]:
    """Every object of the endpoint for this cluster (CRDs looked up). Raises ValueError when
    the spec cannot run here (no KEDA for min_workers 0, no LWS, unmapped GPU type)."""
    namespace = settings.LLME_ENDPOINT_NAMESPACE
    group = endpoint_group_name(endpoint.id)
    existing = kube.get("apps/v1", "Deployment", group, namespace)
    return render_endpoint(
        endpoint_spec(endpoint, queue_url),
        keda_available=kube.has_api(KEDA_API_VERSION, "ScaledObject"),
        lws_available=kube.has_api(LWS_API_VERSION, "LeaderWorkerSet"),
        vpa_available=kube.has_api("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"),
        include_replicas=existing is None,  # once running, KEDA or the HPA owns the replica count
    )


def _delete_unlisted(kube: KubeClient, endpoint_id: str, keep: set[tuple[str, str]]) -> int:
    """Delete the endpoint's labelled objects that are not in `keep` ((kind, name) pairs)."""
    namespace = settings.LLME_ENDPOINT_NAMESPACE
    deleted = 0
    for api_version, kind in endpoint_object_kinds():
        if not kube.has_api(api_version, kind):
            continue
        for obj in kube.list(api_version, kind, namespace, endpoint_selector(endpoint_id)):
            if (kind, obj["metadata"]["name"]) not in keep:
                deleted += kube.delete(api_version, kind, obj["metadata"]["name"], namespace)
    return deleted


def apply_endpoint(kube: KubeClient, endpoint: ModelEndpoint) -> list[dict]:
    """Apply every object of the endpoint (and its queue), delete the labelled ones it no
    longer needs; returns the applied objects. Raises ValueError or InfraError."""
    queue_url = None
    if endpoint.endpoint_type == EndpointType.ASYNC:
        queue_url = queues.ensure_queue(
            endpoint.id, endpoint.name, endpoint.owner, endpoint.queue_message_timeout_seconds
        )
        redis_acl.ensure_user(endpoint.id, settings.LLME_QUEUE_BACKEND)  # before pods use it
    objects = render_for_cluster(kube, endpoint, queue_url)
    record = applied_record(objects)
    previous = endpoint.applied_objects or {}
    if not record.keys() <= previous.keys():
        # Recorded before applying, so a build that dies half-way leaves a record that still
        # names every object it may have created; the next build deletes from it.
        ModelEndpoint.objects.filter(pk=endpoint.id).update(applied_objects={**previous, **record})
        endpoint.applied_objects = {**previous, **record}
    for obj in objects:
        kube.apply(obj)
    keep = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    if previous or (endpoint.spec_version == 1 and endpoint.synced_version == 0):
        _delete_recorded(kube, previous, keep)  # no list calls (docs/operations.md#pruning-and-drift-repair)
    else:
        _delete_unlisted(kube, endpoint.id, keep)  # built before builds kept a record
    return objects


def _delete_recorded(kube: KubeClient, recorded: dict[str, str], keep: set[tuple[str, str]]) -> None:
    """Delete the objects a build recorded (`applied_objects`) that are not in `keep`."""
    api_versions = {kind: api_version for api_version, kind in endpoint_object_kinds()}
    for key in recorded:
        kind, _, name = key.partition("/")
        if (kind, name) not in keep and kind in api_versions:
            kube.delete(api_versions[kind], kind, name, settings.LLME_ENDPOINT_NAMESPACE)


def applied_record(objects: list[dict]) -> dict[str, str]:
    """What `ModelEndpoint.applied_objects` keeps: "Kind/name" -> spec hash."""
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj["metadata"]["annotations"][SPEC_HASH] for obj in objects}


def endpoint_sync(endpoint_id: str) -> None:
    """Converge one endpoint. Raises InfraError(transient=True) for the actor to retry;
    permanent problems end in UPDATE_FAILED with a reason. Holds the endpoint's lock, so a
    teardown or prune of the same endpoint waits for it (docs/operations.md#one-writer-per-endpoint)."""
    with endpoint_lock(endpoint_id):
        _sync(endpoint_id)


def _sync(endpoint_id: str) -> None:
    endpoint = ModelEndpoint.objects.select_related("bundle").filter(pk=endpoint_id).first()
    if endpoint is None:
        return  # deleted meanwhile: nothing to converge
    if endpoint.status == EndpointStatus.DELETE_IN_PROGRESS:
        _teardown(endpoint)
        return
    version = endpoint.spec_version
    if endpoint.synced_version >= version and endpoint.status != EndpointStatus.UPDATE_PENDING:
        return  # this spec was applied already; the cacher follows the rollout
    endpoint_record_status(endpoint_id, version, EndpointStatus.UPDATE_IN_PROGRESS, "applying Kubernetes objects")
    try:
        kube = get_kube()
        objects = apply_endpoint(kube, endpoint)
        if _taken_back(kube, endpoint):
            return
    except ValueError as exc:
        _fail(endpoint, version, str(exc))
        return
    except InfraError as exc:
        if exc.transient:
            raise
        hint = NOT_CONFIGURED_HINT if "No Kubernetes cluster is configured" in exc.message else ""
        _fail(endpoint, version, exc.message + hint)
        return
    destination = endpoint_queue_name(endpoint.id) if endpoint.endpoint_type == EndpointType.ASYNC else endpoint_group_name(endpoint.id)
    ModelEndpoint.objects.filter(pk=endpoint.id, spec_version=version).update(
        synced_version=version, destination=destination, applied_objects=applied_record(objects))
    if endpoint.min_workers == 0:
        endpoint_record_status(endpoint.id, version, EndpointStatus.READY, "")
    else:
        endpoint_record_status(endpoint.id, version, EndpointStatus.UPDATE_IN_PROGRESS, "objects applied; waiting for an available worker")


def _taken_back(kube: KubeClient, endpoint: ModelEndpoint) -> bool:
    """After applying, re-read the row: when it is gone or being deleted, tear down what was
    just applied (nothing may outlive the row) and say so."""
    current = ModelEndpoint.objects.select_related("bundle").filter(pk=endpoint.id).first()
    if current is not None and current.status != EndpointStatus.DELETE_IN_PROGRESS:
        return False
    logger.info("endpoint %s was deleted during its build: tearing down what was applied", endpoint.id)
    if current is not None:
        _teardown(current)
    else:
        _delete_unlisted(kube, endpoint.id, set())
        if endpoint.endpoint_type == EndpointType.ASYNC:
            queues.delete_queue(endpoint.id)
    return True


def _fail(endpoint: ModelEndpoint, version: int, reason: str) -> None:
    logger.warning("build of endpoint %s (v%s) failed: %s", endpoint.id, version, reason)
    endpoint_record_status(endpoint.id, version, EndpointStatus.UPDATE_FAILED, reason)


def _teardown(endpoint: ModelEndpoint) -> None:
    """Remove every object and the queue, then the row. Without a cluster, an endpoint that
    was never applied is simply removed."""
    try:
        kube = get_kube()
        _delete_unlisted(kube, endpoint.id, set())
        if endpoint.endpoint_type == EndpointType.ASYNC:
            queues.delete_queue(endpoint.id)
            redis_acl.delete_user(endpoint.id, settings.LLME_QUEUE_BACKEND)
    except InfraError as exc:
        if exc.transient:
            raise
        if endpoint.synced_version == 0 and "No Kubernetes cluster is configured" in exc.message:
            pass  # nothing was ever created
        else:
            endpoint_record_status(
                endpoint.id, None, EndpointStatus.DELETE_IN_PROGRESS, f"teardown failed, will retry: {exc.message}"
            )
            raise InfraError(exc.message, transient=True) from exc
    # Cache entries expire by themselves: a cache that is down must not keep the row alive.
    best_effort("observed state removal", infra_state.forget_state, endpoint.id)
    best_effort("route cache invalidation", forget_route, endpoint.id, endpoint.name)
    endpoint.delete()
    _delete_bundle_if_unused(endpoint)


def _delete_bundle_if_unused(endpoint: ModelEndpoint) -> None:
    """LLM endpoints own their bundles; remove the ones nothing uses any more."""
    if endpoint.is_llm:
        endpoint.bundle.__class__.objects.filter(owner=endpoint.owner, name=endpoint.name, endpoints__isnull=True).delete()


def restart_endpoint_pods(endpoint: ModelEndpoint) -> None:
    """Rollout restart of the endpoint's Deployment. Raises InfraError when the cluster says no."""
    get_kube().restart_deployment(endpoint_group_name(endpoint.id), settings.LLME_ENDPOINT_NAMESPACE)
