"""Every Kubernetes object of one endpoint, in apply order (docs/design.md#kubernetes-objects-per-endpoint).

Guarantees:
- Pure: the result depends only on the spec, the three flags and settings read at call time.
- Every object is named `<group>` (or `<group>-endpoint-config` / `<group>-leader`), lives in
  LLME_ENDPOINT_NAMESPACE and carries the labels of `metadata.endpoint_labels`, so
  `labels.endpoint_selector(id)` over `endpoint_object_kinds()` finds all of them.
- Objects the spec no longer needs (an HPA after KEDA appeared, a Service after the endpoint
  became async...) are simply absent: the builder deletes labelled objects it did not apply.
- ValueError, written for the API caller, when the spec cannot run on this cluster.
"""
import hashlib
import json

from endpoints.manifests import autoscaling, deployment, forwarder, lws, service
from endpoints.manifests.metadata import object_metadata
from endpoints.manifests.spec import EndpointSpec, check_spec
from llmengine_site.labels import SPEC_HASH
from llmengine_site.names import endpoint_group_name, endpoint_leader_service_name

LWS_MISSING = "multi-node endpoints need the LeaderWorkerSet CRD, which is not installed in the cluster"


def render_endpoint(
    spec: EndpointSpec,
    *,
    keda_available: bool,
    lws_available: bool,
    vpa_available: bool = False,
    include_replicas: bool = True,
) -> list[dict]:
    """`_render_objects`, each object annotated with `llm-engine.io/spec-hash`: a hash of the
    object as rendered, without `spec.replicas` (which KEDA or the HPA own once running). The
    builder records the hashes it applied; the cacher re-applies an endpoint whose objects are
    missing or carry another hash (docs/operations.md#pruning-and-drift-repair)."""
    objects = _render_objects(spec, keda_available=keda_available, lws_available=lws_available,
                              vpa_available=vpa_available, include_replicas=include_replicas)
    for obj in objects:
        obj["metadata"].setdefault("annotations", {})[SPEC_HASH] = spec_hash(obj)
    return objects


def spec_hash(obj: dict) -> str:
    """16 hex digits of sha256 over the object's canonical JSON, without its own hash
    annotation and without `spec.replicas`."""
    metadata = dict(obj.get("metadata") or {})
    metadata["annotations"] = {k: v for k, v in (metadata.get("annotations") or {}).items() if k != SPEC_HASH}
    spec = obj.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        spec = {k: v for k, v in spec.items() if k != "replicas"}
    canonical = json.dumps({**obj, "metadata": metadata, "spec": spec}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _render_objects(
    spec: EndpointSpec,
    *,
    keda_available: bool,
    lws_available: bool,
    vpa_available: bool = False,
    include_replicas: bool = True,
) -> list[dict]:
    """[ConfigMap, Secret (async), Deployment | LeaderWorkerSet, Service(s), PDB, ScaledObject | HPA, VPA?].

    include_replicas=False leaves `spec.replicas` out of the Deployment (use it on updates,
    when KEDA/the HPA owns the replica count). The VPA is rendered only with optimize_costs,
    vpa_available and KEDA (never next to the CPU HPA); otherwise it is skipped silently.
    """
    check_spec(spec)
    group = endpoint_group_name(spec.id)
    namespace = deployment.namespace()

    def metadata(name: str = group) -> dict:
        return object_metadata(spec, name, namespace)

    objects = [forwarder.render_config_map(spec, metadata(forwarder.config_map_name(spec)))]
    secret = forwarder.render_secret(spec, metadata())
    if secret is not None:
        objects.append(secret)
    if spec.is_multi_node:
        if not lws_available:
            raise ValueError(LWS_MISSING)
        if spec.is_async:
            raise ValueError("multi-node endpoints must be sync or streaming")
        if spec.min_workers != spec.max_workers:
            raise ValueError("multi-node endpoints do not autoscale: set min_workers equal to max_workers")
        objects.append(lws.render_leader_worker_set(spec, metadata(), group))
        objects.append(service.render_leader_service(metadata(endpoint_leader_service_name(spec.id)), group))
        return objects

    # Refuse before rendering anything else, so the caller gets the real reason.
    if not keda_available and spec.min_workers == 0:
        raise ValueError(autoscaling.MIN_WORKERS_ZERO_NEEDS_KEDA)
    objects.append(deployment.render_deployment(spec, metadata(), group, include_replicas=include_replicas))
    if not spec.is_async:
        objects.append(service.render_service(metadata(), group))
    objects.append(service.render_pod_disruption_budget(metadata(), group))
    if keda_available:
        objects.append(autoscaling.render_scaled_object(spec, metadata(), group))
        if spec.optimize_costs and vpa_available:
            objects.append(autoscaling.render_vpa(spec, metadata(), group))
    else:
        objects.append(autoscaling.render_cpu_hpa(spec, metadata(), group))
    return objects


def endpoint_object_kinds() -> list[tuple[str, str]]:
    """(apiVersion, kind) of everything `render_endpoint` may create, for cleanup on delete and
    pruning on update. CRD kinds (KEDA, LWS, VPA) may be absent from a cluster: skip a 404 list."""
    return [
        ("apps/v1", "Deployment"),
        (lws.LWS_API_VERSION, "LeaderWorkerSet"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("policy/v1", "PodDisruptionBudget"),
        (autoscaling.KEDA_API_VERSION, "ScaledObject"),
        (autoscaling.HPA_API_VERSION, "HorizontalPodAutoscaler"),
        (autoscaling.VPA_API_VERSION, "VerticalPodAutoscaler"),
    ]
