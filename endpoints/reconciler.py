"""The cacher/reconciler step (docs/design.md#desired-state-and-the-flow-of-a-change): read the
cluster back, make statuses honest, re-send work that was lost, re-apply endpoints whose objects
drifted, prune what has no row, and keep the image caches current.

`reconcile_once` is what `manage.py run_cacher` runs every few seconds; each part is also a
function of its own for the maintenance commands. One pass lists each kind of the endpoint
namespace once (`take_snapshot`; metadata only where that is enough) and every part reads that
snapshot (docs/operations.md#pruning-and-drift-repair)."""
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from endpoints import infra_state, redis_acl
from endpoints.choices import BUILD_PENDING_STATUSES, EndpointStatus, EndpointType
from endpoints.images import full_image, is_framework_repository
from endpoints.locks import endpoint_lock
from endpoints.manifests import render_image_cache_daemonset
from endpoints.manifests.image_cache import image_cache_containers, image_cache_namespace
from endpoints.builder import applied_record, apply_endpoint
from endpoints.manifests.render import endpoint_object_kinds
from endpoints.models import EndpointEvent, ModelEndpoint
from endpoints.observe import observe_endpoints
from endpoints.status import endpoint_record_statuses
from endpoints.tasks import sync_endpoint
from llmengine_site.gc_pause import collection_paused
from llmengine_site.infra import InfraError, queues
from llmengine_site.infra.kube import KubeClient
from llmengine_site.labels import ENDPOINT_ID, GPU_TYPE, IMAGE_CACHE, MANAGED_BY, MANAGED_BY_VALUE, SPEC_HASH
from llmengine_site.names import endpoint_id_from_queue_name
from llmengine_site.reconcile_summary import ReconcileSummary, changes

logger = logging.getLogger(__name__)

IMAGES_PER_CACHE = 32


@dataclass
class Summary(ReconcileSummary):
    noun: ClassVar[str] = "endpoint(s)"
    resent: list[str] = changes("re-sent")
    repaired: list[str] = changes()
    image_caches: list[str] = changes()


# Kinds whose full objects a pass needs; every other kind is listed metadata-only.
FULL_KINDS = ("Deployment", "Pod")


@dataclass
class Snapshot:
    """The labelled objects of the endpoint namespace, each kind listed once in a pass."""
    lists: dict[tuple[str, str], list[dict]]  # (apiVersion, kind) -> items; absent kinds not served
    _by_name: dict[tuple[str, str], dict] | None = field(default=None, init=False, repr=False)

    def items(self, kind: str) -> list[dict]:
        return next((items for (_, listed_kind), items in self.lists.items() if listed_kind == kind), [])

    def labelled(self) -> Iterator[tuple[str, str, dict]]:
        """(apiVersion, kind, object) of every object of an endpoint kind (Pods excluded)."""
        for (api_version, kind), items in self.lists.items():
            if kind != "Pod":
                for obj in items:
                    yield api_version, kind, obj

    def drift(self, applied: dict[str, str]) -> list[str]:
        """What differs from the record of a build ("Kind/name" -> hash): "<Kind/name> missing"
        or "<Kind/name> changed". Kinds the cluster does not serve are not judged here."""
        listed_kinds = {kind for _, kind in self.lists}
        index = self._index()
        problems = []
        for key, expected in applied.items():
            kind, _, name = key.partition("/")
            if kind not in listed_kinds:
                continue
            found = index.get((kind, name))
            if found is None:
                problems.append(f"{key} missing")
            elif ((found["metadata"].get("annotations") or {}).get(SPEC_HASH)) != expected:
                problems.append(f"{key} changed")
        return problems

    def _index(self) -> dict[tuple[str, str], dict]:
        if self._by_name is None:
            self._by_name = {(kind, obj["metadata"]["name"]): obj for _, kind, obj in self.labelled()}
        return self._by_name


def take_snapshot(kube: KubeClient) -> Snapshot:
    """One list per kind the endpoints use (Deployments and Pods in full, the rest metadata only)."""
    namespace = settings.LLME_ENDPOINT_NAMESPACE
    selector = {MANAGED_BY: MANAGED_BY_VALUE}
    lists = {}
    for api_version, kind in [*endpoint_object_kinds(), ("v1", "Pod")]:
        if not kube.has_api(api_version, kind):
            continue
        lists[(api_version, kind)] = kube.list(api_version, kind, namespace, selector,
                                               metadata_only=kind not in FULL_KINDS)
    return Snapshot(lists)


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


def refresh_states(kube: KubeClient, endpoints: list[ModelEndpoint], snapshot: Snapshot | None = None) -> dict[str, dict]:
    snapshot = snapshot or take_snapshot(kube)
    states = observe_endpoints(kube, settings.LLME_ENDPOINT_NAMESPACE,
                               deployments=snapshot.items("Deployment"), pods=snapshot.items("Pod"))
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
    """Every status the cluster supports, recorded in bulk (a constant number of queries)."""
    moves = {}
    for endpoint in endpoints:
        target = observed_status(endpoint, states.get(endpoint.id))
        if target and target != (endpoint.status, endpoint.status_reason):
            moves[endpoint.id] = (endpoint.spec_version, *target)
    for name, old, new in endpoint_record_statuses(moves):
        summary.status_changes.append(f"{name}: {old} → {new}")


def resend_stuck(endpoints: list[ModelEndpoint], summary: Summary, now=None) -> None:
    """Builds that were accepted but not applied (a lost message, a worker killed mid-build)
    and deletions not finished are sent again once the row has not moved for
    `LLME_RESEND_AFTER_SECONDS`, and then at most once per that threshold (`resent_at`, one
    UPDATE for all), so re-sends never pile up in front of a busy builder; the actor is
    idempotent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=float(settings.LLME_RESEND_AFTER_SECONDS))
    resent = []
    for endpoint in endpoints:
        behind = endpoint.status in BUILD_PENDING_STATUSES and endpoint.synced_version < endpoint.spec_version
        deleting = endpoint.status == EndpointStatus.DELETE_IN_PROGRESS
        recently_resent = endpoint.resent_at is not None and endpoint.resent_at > cutoff
        if (behind or deleting) and endpoint.last_updated_at < cutoff and not recently_resent:
            sync_endpoint.send(endpoint.id)
            resent.append(endpoint.id)
            summary.resent.append(endpoint.name)
    if resent:
        ModelEndpoint.objects.filter(pk__in=resent).update(resent_at=now)


def _created_at(obj: dict) -> datetime | None:
    stamp = obj["metadata"].get("creationTimestamp")
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None


def prune_orphans(kube: KubeClient, *, dry_run: bool = False, summary: Summary | None = None,
                  snapshot: Snapshot | None = None) -> list[str]:
    """Delete labelled objects and endpoint queues whose endpoint row no longer exists.

    Safe against a create racing the prune: the rows are read after the objects are listed (an
    object can only exist once its row committed), each candidate is re-checked in the database
    just before its objects are deleted, and objects younger than `LLME_PRUNE_GRACE_SECONDS`
    are spared (docs/operations.md#pruning-and-drift-repair)."""
    summary = summary or Summary()
    snapshot = snapshot or take_snapshot(kube)
    by_endpoint: dict[str, list[tuple[str, str, dict]]] = {}
    for api_version, kind, obj in snapshot.labelled():
        endpoint_id = (obj["metadata"].get("labels") or {}).get(ENDPOINT_ID)
        if endpoint_id:
            by_endpoint.setdefault(endpoint_id, []).append((api_version, kind, obj))
    queue_ids = {}
    for queue_name in queues.list_queues():
        endpoint_id = endpoint_id_from_queue_name(queue_name)
        if endpoint_id:
            queue_ids[endpoint_id] = queue_name
    listed = set(by_endpoint) | set(queue_ids)
    # Every id rather than `id IN (<each listed id>)`: with 1,000 endpoints building that query
    # cost more than reading the ids (and it is still read after the objects were listed).
    candidates = listed - set(ModelEndpoint.objects.values_list("id", flat=True)) if listed else set()
    if not candidates:
        return summary.pruned
    grace_cutoff = timezone.now() - timedelta(seconds=float(settings.LLME_PRUNE_GRACE_SECONDS))
    for endpoint_id in sorted(candidates):
        old, young = [], []
        for entry in by_endpoint.get(endpoint_id, []):
            created = _created_at(entry[2])
            (young if created is not None and created > grace_cutoff else old).append(entry)
        if young:
            logger.debug("prune spares %d object(s) of %s: younger than %ss", len(young), endpoint_id,
                         settings.LLME_PRUNE_GRACE_SECONDS)
        if not old and endpoint_id not in queue_ids:
            continue
        # One writer per endpoint (docs/operations.md#one-writer-per-endpoint): an endpoint being
        # built or torn down right now is left to that writer and looked at again next pass.
        with endpoint_lock(endpoint_id, blocking=False) as taken:
            if not taken or ModelEndpoint.objects.filter(pk=endpoint_id).exists():
                continue  # being written, or created after the first read: it is live
            _prune_endpoint(kube, endpoint_id, old, queue_ids.get(endpoint_id), dry_run, summary)
    return summary.pruned


def _prune_endpoint(kube: KubeClient, endpoint_id: str, objects: list[tuple[str, str, dict]], queue_name: str | None,
                    dry_run: bool, summary: Summary) -> None:
    namespace = settings.LLME_ENDPOINT_NAMESPACE
    for api_version, kind, obj in objects:
        summary.pruned.append(f"{kind}/{obj['metadata']['name']}")
        if not dry_run:
            kube.delete(api_version, kind, obj["metadata"]["name"], namespace)
    if queue_name:
        summary.pruned.append(f"queue/{queue_name}")
        if not dry_run:
            queues.delete_queue(endpoint_id)


def repair_drift(kube: KubeClient, endpoints: list[ModelEndpoint], snapshot: Snapshot, summary: Summary) -> None:
    """Re-apply built endpoints whose objects are missing or carry another spec hash than the
    build recorded (deleted or replaced by hand, say). Endpoints with a build or a teardown
    pending are the builder's business and are left alone."""
    for endpoint in endpoints:
        if not _settled(endpoint) or not endpoint.applied_objects:
            continue
        problems = snapshot.drift(endpoint.applied_objects)
        if problems:
            _repair(kube, endpoint.id, endpoint.spec_version, problems, summary)


def restore_redis_users(endpoints: list[ModelEndpoint], summary: Summary) -> None:
    """Built async endpoints whose Redis user is gone (a Redis restarted without its ACL file)
    get it back, so their forwarders authenticate again (docs/operations.md#redis-users-of-async-endpoints)."""
    built = [endpoint.id for endpoint in endpoints
             if endpoint.endpoint_type == EndpointType.ASYNC and endpoint.synced_version > 0 and _settled(endpoint)]
    if not built:
        return
    try:
        restored = redis_acl.restore_missing_users(built, settings.LLME_QUEUE_BACKEND)
    except (ValueError, InfraError) as exc:
        logger.warning("Redis users of async endpoints not checked, next pass retries: %s", exc)
        return
    for endpoint_id in restored:
        logger.info("endpoint %s: Redis user restored", endpoint_id)
        summary.repaired.append(f"redis-user/{endpoint_id}")


def _settled(endpoint: ModelEndpoint) -> bool:
    return endpoint.status != EndpointStatus.DELETE_IN_PROGRESS and endpoint.synced_version >= endpoint.spec_version


def _repair(kube: KubeClient, endpoint_id: str, version: int, problems: list[str], summary: Summary) -> None:
    with endpoint_lock(endpoint_id, blocking=False) as taken:
        if taken:  # else the builder is writing it right now; the next pass looks again
            _reapply(kube, endpoint_id, version, problems, summary)


def _reapply(kube: KubeClient, endpoint_id: str, version: int, problems: list[str], summary: Summary) -> None:
    endpoint = ModelEndpoint.objects.select_related("bundle").filter(pk=endpoint_id, spec_version=version).first()
    if endpoint is None or not _settled(endpoint):
        return  # deleted, updated or being torn down since the pass read it
    try:
        objects = apply_endpoint(kube, endpoint)
    except (ValueError, InfraError) as exc:
        logger.warning("re-applying endpoint %s (%s) failed, next pass retries: %s", endpoint.name, "; ".join(problems), exc)
        return
    ModelEndpoint.objects.filter(pk=endpoint_id, spec_version=version).update(applied_objects=applied_record(objects))
    reason = "objects re-applied: " + "; ".join(problems)
    EndpointEvent.objects.create(endpoint_id=endpoint_id, old_status=endpoint.status, new_status=endpoint.status, reason=reason)
    logger.info("endpoint %s: %s", endpoint.name, reason)
    summary.repaired.append(endpoint.name)


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
        (obj["metadata"].get("labels") or {}).get(GPU_TYPE): obj
        for obj in kube.list("apps/v1", "DaemonSet", namespace, {IMAGE_CACHE: "true"})
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
    """One pass. No garbage-collection passes while it runs: every row and listed object stays
    alive until the pass ends, so collections would only walk them (and the rest of the heap)
    again and again; measured at 1,000 endpoints: ~0.4 s of a pass. Collection resumes after."""
    with collection_paused():
        return _reconcile(kube, prune)


def _reconcile(kube: KubeClient, prune: bool) -> Summary:
    summary = Summary()
    endpoints = list(ModelEndpoint.objects.select_related("bundle"))
    snapshot = take_snapshot(kube)
    states = refresh_states(kube, endpoints, snapshot)
    summary.observed = len(states)
    update_statuses(endpoints, states, summary)
    resend_stuck(endpoints, summary)
    repair_drift(kube, endpoints, snapshot, summary)
    restore_redis_users(endpoints, summary)
    if prune:
        prune_orphans(kube, summary=summary, snapshot=snapshot)
    apply_image_caches(kube, endpoints, states, summary)
    return summary
