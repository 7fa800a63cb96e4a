"""The cacher/reconciler step (docs/design.md#desired-state-and-the-flow-of-a-change): read the
cluster back, make statuses honest, re-send work that was lost, prune what has no row, and keep the image caches current.

`reconcile_once` is what `manage.py run_cacher` runs every few seconds; each part is also a
function of its own for the maintenance commands."""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from endpoints import infra_state
from endpoints.choices import BUILD_PENDING_STATUSES, EndpointStatus, EndpointType
from endpoints.images import full_image, is_framework_repository
from endpoints.manifests import render_image_cache_daemonset
from endpoints.manifests.image_cache import image_cache_containers, image_cache_namespace
from endpoints.manifests.labels import ENDPOINT_ID, MANAGED_BY, MANAGED_BY_VALUE
from endpoints.manifests.render import endpoint_object_kinds
from endpoints.models import ModelEndpoint
from endpoints.observe import observe_endpoints
from endpoints.status import endpoint_record_status
from endpoints.tasks import sync_endpoint
from llmengine_site.infra import InfraError, queues
from llmengine_site.infra.kube import KubeClient
from llmengine_site.infra.names import endpoint_id_from_queue_name

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(seconds=60)
IMAGES_PER_CACHE = 32


@dataclass
class Summary:
    observed: int = 0
    status_changes: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    image_caches: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"observed {self.observed} endpoint(s); status changes: {len(self.status_changes)}; "
                f"re-sent: {len(self.resent)}; pruned: {len(self.pruned)}; image caches: {len(self.image_caches)}")


def observed_status(endpoint: ModelEndpoint, state: dict | None) -> tuple[str, str] | None:
    """The status the cluster supports for an endpoint whose spec is applied, or None to keep it.

    READY needs min(1, min_workers) available workers; a pod that cannot start (image pull,
    scheduling, crash loop) means UPDATE_FAILED with that cause; a fixed cause recovers."""
    if endpoint.synced_version < endpoint.spec_version or state is None:
        return None
    if endpoint.status not in (EndpointStatus.UPDATE_IN_PROGRESS, EndpointStatus.READY, EndpointStatus.UPDATE_FAILED):
        return None
    if state.get("failure") and state.get("available_workers", 0) < max(1, min(1, endpoint.min_workers)):
        return EndpointStatus.UPDATE_FAILED, state["failure"]
    if state.get("available_workers", 0) >= min(1, endpoint.min_workers):
        return EndpointStatus.READY, ""
    return None


def refresh_states(kube: KubeClient, endpoints: list[ModelEndpoint]) -> dict[str, dict]:
    states = observe_endpoints(kube, settings.LLME_ENDPOINT_NAMESPACE)
    for endpoint in endpoints:
        if endpoint.endpoint_type == EndpointType.ASYNC and endpoint.synced_version:
            try:
                depth = queues.queue_depth(endpoint.id)
            except InfraError as exc:
                logger.warning("queue depth of %s unavailable: %s", endpoint.id, exc)
                depth = None
            states.setdefault(endpoint.id, {})["num_queued_items"] = depth
    infra_state.write_states(states)
    return states


def update_statuses(endpoints: list[ModelEndpoint], states: dict[str, dict], summary: Summary) -> None:
    for endpoint in endpoints:
        target = observed_status(endpoint, states.get(endpoint.id))
        if target and target != (endpoint.status, endpoint.status_reason):
            if endpoint_record_status(endpoint.id, endpoint.spec_version, *target):
                summary.status_changes.append(f"{endpoint.name}: {endpoint.status} → {target[0]}")


def resend_stuck(endpoints: list[ModelEndpoint], summary: Summary, now=None) -> None:
    """Builds that were accepted but not applied (a lost message, a worker killed mid-build)
    and deletions not finished are sent again; the actor is idempotent."""
    cutoff = (now or timezone.now()) - STUCK_AFTER
    for endpoint in endpoints:
        behind = endpoint.status in BUILD_PENDING_STATUSES and endpoint.synced_version < endpoint.spec_version
        deleting = endpoint.status == EndpointStatus.DELETE_IN_PROGRESS
        if (behind or deleting) and endpoint.last_updated_at < cutoff:
            sync_endpoint.send(endpoint.id)
            summary.resent.append(endpoint.name)


def prune_orphans(kube: KubeClient, *, dry_run: bool = False, summary: Summary | None = None) -> list[str]:
    """Delete labelled objects and endpoint queues whose endpoint row no longer exists."""
    summary = summary or Summary()
    known = set(ModelEndpoint.objects.values_list("id", flat=True))
    namespace = settings.LLME_ENDPOINT_NAMESPACE
    for api_version, kind in endpoint_object_kinds():
        if not kube.has_api(api_version, kind):
            continue
        for obj in kube.list(api_version, kind, namespace, {MANAGED_BY: MANAGED_BY_VALUE}):
            endpoint_id = (obj["metadata"].get("labels") or {}).get(ENDPOINT_ID)
            if endpoint_id and endpoint_id not in known:
                summary.pruned.append(f"{kind}/{obj['metadata']['name']}")
                if not dry_run:
                    kube.delete(api_version, kind, obj["metadata"]["name"], namespace)
    for queue_name in queues.list_queues():
        endpoint_id = endpoint_id_from_queue_name(queue_name)
        if endpoint_id and endpoint_id not in known:
            summary.pruned.append(f"queue/{queue_name}")
            if not dry_run:
                queues.delete_queue(endpoint_id)
    return summary.pruned


def image_cache_plan(endpoints: list[ModelEndpoint], states: dict[str, dict]) -> dict[str, list[str]]:
    """Images to pre-pull per GPU type: the forwarder first, then the framework images of
    high-priority endpoints, endpoints without available workers, and the most recently updated
    (at most 32). A tenant's bundle image is never pre-pulled: a cache runs its images on every
    node of the GPU type, so only platform and framework images belong there."""
    def rank(endpoint):
        available = (states.get(endpoint.id) or {}).get("available_workers") or 0
        return (not endpoint.high_priority, available > 0, -endpoint.last_updated_at.timestamp())

    plan: dict[str, list[str]] = {}
    for endpoint in sorted((e for e in endpoints if e.gpu_type), key=rank):
        images = plan.setdefault(endpoint.gpu_type, [settings.LLME_FORWARDER_IMAGE])
        repository = endpoint.bundle.spec.get("repository", "")
        if not is_framework_repository(repository):
            continue
        image = full_image(repository, endpoint.bundle.spec.get("tag", ""))
        if image not in images and len(images) < IMAGES_PER_CACHE:
            images.append(image)
    return plan


def apply_image_caches(kube: KubeClient, endpoints, states, summary: Summary) -> None:
    """Keep one image-cache DaemonSet per GPU type pre-pulling the planned images. When the
    Helm chart created it, only its container list is patched (the chart owns the rest);
    without a chart (e.g. `make run` against a cluster) the whole DaemonSet is applied."""
    namespace = image_cache_namespace()
    existing = {
        (obj["metadata"].get("labels") or {}).get("llm-engine.io/gpu-type"): obj
        for obj in kube.list("apps/v1", "DaemonSet", namespace, {"llm-engine.io/image-cache": "true"})
    }
    for gpu_type, images in image_cache_plan(endpoints, states).items():
        if gpu_type not in settings.LLME_GPU_NODE_LABELS:
            continue
        current = existing.get(gpu_type)
        try:
            if current is not None:
                containers = image_cache_containers(images)
                if [c.get("image") for c in current["spec"]["template"]["spec"]["containers"]] != images:
                    kube.patch("apps/v1", "DaemonSet", current["metadata"]["name"], namespace,
                               {"spec": {"template": {"spec": {"containers": containers}}}})
                summary.image_caches.append(current["metadata"]["name"])
            else:
                daemonset = render_image_cache_daemonset(gpu_type, images)
                kube.apply(daemonset)
                summary.image_caches.append(daemonset["metadata"]["name"])
        except InfraError as exc:
            # A cache is an optimisation: without it (e.g. the chart has none for this GPU type
            # and may not create one) pods still pull their images; the rest of the pass goes on.
            logger.warning("image cache for %s not updated: %s", gpu_type, exc)


def reconcile_once(kube: KubeClient, *, prune: bool = True) -> Summary:
    summary = Summary()
    endpoints = list(ModelEndpoint.objects.select_related("bundle"))
    states = refresh_states(kube, endpoints)
    summary.observed = len(states)
    update_statuses(endpoints, states, summary)
    resend_stuck(endpoints, summary)
    if prune:
        prune_orphans(kube, summary=summary)
    apply_image_caches(kube, endpoints, states, summary)
    return summary
