"""The endpoint's pods: the `main` inference container, the pod spec and the Deployment.

Guarantees: `main` requests = limits (cpu, memory, ephemeral-storage when given,
`nvidia.com/gpu` when gpus > 0), so GPU pods get the Guaranteed QoS class and are the last to
be evicted; GPU pods only land on `node-lifecycle: normal` nodes with the mapped accelerator
label and tolerate the `nvidia.com/gpu` taint. Weights are fetched by the container's own
command (see `endpoints.frameworks.launch`), so there is no init container.
"""

from django.conf import settings

from endpoints.manifests import forwarder, scheduling
from llmengine_site.labels import APP, ROLE
from llmengine_site.names import HIGH_PRIORITY_CLASS

MAIN_CONTAINER = "main"
SHM_VOLUME = "dshm"
INFRA_CONFIG_VOLUME = "infra-config"
INFRA_CONFIG_PATH = "/infra-config"
DEFAULT_MAIN_SECURITY_CONTEXT = {"allowPrivilegeEscalation": False}

_DOWNWARD_API = (
    ("POD_NAME", "metadata.name"),
    ("POD_NAMESPACE", "metadata.namespace"),
    ("POD_UID", "metadata.uid"),
    ("NODE_NAME", "spec.nodeName"),
)
# LeaderWorkerSet pods also learn their group, for the Ray/vLLM addresses in the bundle env.
_LWS_DOWNWARD_API = (
    ("K8S_OWN_POD_NAME", "metadata.name"),
    ("K8S_OWN_NAMESPACE", "metadata.namespace"),
    ("K8S_LWS_NAME", "metadata.labels['leaderworkerset.sigs.k8s.io/name']"),
    ("K8S_LWS_CLUSTER_SIZE", "metadata.annotations['leaderworkerset.sigs.k8s.io/size']"),
)


def namespace() -> str:
    return settings.LLME_ENDPOINT_NAMESPACE


def _main_security_context() -> dict:
    """The chart's serviceTemplate.securityContext (LLME_ENDPOINT_SECURITY_CONTEXT); framework
    images often need root, so the default (an empty setting) only forbids escalation."""
    return dict(settings.LLME_ENDPOINT_SECURITY_CONTEXT or DEFAULT_MAIN_SECURITY_CONTEXT)


def main_resources(spec) -> dict:
    amounts = {"cpu": str(spec.cpus), "memory": str(spec.memory)}
    if spec.storage:
        amounts["ephemeral-storage"] = str(spec.storage)
    if spec.gpus > 0:
        amounts[scheduling.GPU_RESOURCE] = str(spec.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def main_env(spec, bundle_env, *, lws: bool = False) -> list[dict]:
    """Downward-API variables first: bundle values may refer to them as `$(NAME)`, which
    Kubernetes only expands for variables defined earlier in the list."""
    ours = [*_DOWNWARD_API, *(_LWS_DOWNWARD_API if lws else ())]
    env = [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in ours]
    reserved = {name for name, _ in ours}
    for name in sorted(bundle_env or {}):
        if name in reserved:
            raise ValueError(f"environment variable {name} is set by LLM Engine and cannot be overridden")
        env.append({"name": name, "value": str(bundle_env[name])})
    return env


def main_container(spec, *, command=None, env=None, lws: bool = False, probe: bool = True) -> dict:
    bundle = spec.bundle
    container = {
        "name": MAIN_CONTAINER,
        "image": bundle.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(command if command is not None else bundle.command),
        "env": main_env(spec, bundle.env if env is None else env, lws=lws),
        "ports": [{"name": "http", "containerPort": forwarder.USER_PORT, "protocol": "TCP"}],
        "resources": main_resources(spec),
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}],
        "securityContext": _main_security_context(),
    }
    if settings.LLME_ENDPOINT_MOUNT_INFRA_CONFIG:
        container["volumeMounts"].append({"name": INFRA_CONFIG_VOLUME, "mountPath": INFRA_CONFIG_PATH, "readOnly": True})
    if probe:
        container["readinessProbe"] = {
            "httpGet": {"path": bundle.healthcheck_route, "port": forwarder.USER_PORT},
            "initialDelaySeconds": bundle.readiness_initial_delay_seconds,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        }
    return container


def pod_spec(spec, containers: list[dict], *, config_map: str | None) -> dict:
    """Pod spec shared by the Deployment and the LeaderWorkerSet templates."""
    volumes = [
        # NCCL and PyTorch data loaders need a large /dev/shm; the container default is 64Mi.
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": str(spec.memory)}},
    ]
    if config_map:
        volumes.append({"name": forwarder.CONFIG_VOLUME, "configMap": {"name": config_map}})
    if settings.LLME_ENDPOINT_MOUNT_INFRA_CONFIG:
        volumes.append({"name": INFRA_CONFIG_VOLUME, "configMap": {"name": settings.LLME_INFRA_CONFIG_MAP}})
    pod = {
        "containers": containers,
        "volumes": volumes,
        # Async consumers finish their in-flight task; HTTP pods drain streams.
        "terminationGracePeriodSeconds": 1800 if spec.is_async else 600,
        # Endpoint pods run user models and never call the Kubernetes API.
        "automountServiceAccountToken": False,
        # Service-link variables are noise and can clash with framework variables.
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    account = spec.service_account_name or settings.LLME_ENDPOINT_SERVICE_ACCOUNT
    if account:
        pod["serviceAccountName"] = account
    if spec.high_priority:
        pod["priorityClassName"] = settings.LLME_HIGH_PRIORITY_CLASS
    if spec.gpus > 0:
        pod["nodeSelector"] = scheduling.gpu_node_selector(spec.gpu_type)
        pod["tolerations"] = [dict(scheduling.GPU_TOLERATION)]
    return pod


def pod_labels(common: dict, group: str, role: str | None = None) -> dict:
    labels = {**common, APP: group}
    if role:
        labels[ROLE] = role
    return labels


def render_deployment(spec, metadata: dict, group: str, *, include_replicas: bool) -> dict:
    """Deployment `<group>`; `replicas` is left out when `include_replicas` is False so that a
    re-apply does not fight KEDA/HPA over the replica count."""
    deployment_spec = {
        "selector": {"matchLabels": {APP: group}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "revisionHistoryLimit": 3,
        # Weight downloads are slow; past this the rollout is reported as stuck.
        "progressDeadlineSeconds": 3600,
        "template": {
            # No spec-version annotation here: bumping it must not restart GPU pods by itself.
            "metadata": {"labels": pod_labels(metadata["labels"], group)},
            "spec": pod_spec(
                spec,
                [main_container(spec), forwarder.forwarder_container(spec)],
                config_map=forwarder.config_map_name(spec),
            ),
        },
    }
    if include_replicas:
        deployment_spec = {"replicas": spec.min_workers, **deployment_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": deployment_spec}
