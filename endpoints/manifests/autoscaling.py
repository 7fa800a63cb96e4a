"""Autoscaling objects: KEDA ScaledObject (preferred), plain CPU HPA (fallback), VPA.

KEDA rules (docs/design.md#kubernetes-objects-per-endpoint): sync/streaming scale on the gateway's
in-flight request count for the endpoint (metrics-api trigger, so scale-from-zero needs no
Prometheus); async endpoints scale on queue depth (SQS, or the Redis list). Activation thresholds are 0: one waiting request or
message wakes a `min_workers: 0` endpoint. KEDA trigger metadata values are strings.
"""
from urllib.parse import urlsplit

from django.conf import settings

from llmengine_site.names import redis_queue_key

from endpoints.manifests import forwarder

KEDA_API_VERSION = "keda.sh/v1alpha1"
HPA_API_VERSION = "autoscaling/v2"
VPA_API_VERSION = "autoscaling.k8s.io/v1"
COOLDOWN_SECONDS = 300
CPU_TARGET_PERCENT = 70
MIN_WORKERS_ZERO_NEEDS_KEDA = "min_workers 0 needs KEDA, which is not installed in the cluster"

# Scale up fast (a queue of LLM requests grows quickly), scale down one pod a minute after
# five quiet minutes (a GPU pod takes minutes to come back).
_BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 30},
            {"type": "Percent", "value": 100, "periodSeconds": 30},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": COOLDOWN_SECONDS,
        "selectPolicy": "Min",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    },
}


def _behavior() -> dict:
    return {
        direction: {**rules, "policies": [dict(policy) for policy in rules["policies"]]}
        for direction, rules in _BEHAVIOR.items()
    }


def metrics_url(endpoint_id: str) -> str:
    gateway = settings.LLME_GATEWAY_URL
    return f"{gateway}/v1/internal/endpoints/{endpoint_id}/autoscaling-metrics"


def _http_trigger(spec) -> dict:
    return {
        "type": "metrics-api",
        "name": "in-flight-requests",
        # AverageValue: desired replicas = ceil(in_flight / per_worker).
        "metricType": "AverageValue",
        "metadata": {
            "url": metrics_url(spec.id),
            "format": "json",
            "valueLocation": "in_flight",
            "targetValue": str(spec.per_worker),
            "activationTargetValue": "0",
        },
    }


def _sqs_trigger(spec) -> dict:
    if not spec.queue_url:
        raise ValueError("async endpoints on SQS need queue_url")
    trigger = {
        "type": "aws-sqs-queue",
        "name": "queue-depth",
        "metadata": {
            "queueURL": spec.queue_url,
            "queueLength": str(spec.per_worker),
            "activationQueueLength": "0",
            "awsRegion": settings.LLME_AWS_REGION,
        },
    }
    authentication = settings.LLME_KEDA_TRIGGER_AUTHENTICATION
    if authentication:
        # The chart's TriggerAuthentication: KEDA assumes a role through AWS pod identity.
        trigger["authenticationRef"] = {"name": authentication}
    else:
        # KEDA's own IRSA role reads queue attributes: no credentials in the namespace.
        trigger["metadata"]["identityOwner"] = "operator"
    return trigger


def _redis_trigger(spec) -> dict:
    """KEDA reads the list's length as the endpoint's own Redis user (`endpoints/redis_acl.py`),
    whose name and password it takes from the forwarder container's env."""
    url = urlsplit(settings.LLME_QUEUE_REDIS_URL or settings.REDIS_URL)
    if not url.hostname:
        raise ValueError("async endpoints on the Redis queue backend need REDIS_URL")
    metadata = {
        "address": f"{url.hostname}:{url.port or 6379}",
        "listName": redis_queue_key(spec.queue_name, "pending"),
        "listLength": str(spec.per_worker),
        "activationListLength": "0",
        "databaseIndex": (url.path or "/0").lstrip("/") or "0",
        "enableTLS": "true" if url.scheme == "rediss" else "false",
    }
    # Resolved by KEDA from the forwarder container's env (scaleTargetRef.envSourceContainerName).
    metadata["usernameFromEnv"] = forwarder.REDIS_USERNAME_ENV
    metadata["passwordFromEnv"] = forwarder.REDIS_PASSWORD_ENV
    return {"type": "redis", "name": "queue-depth", "metadata": metadata}


def keda_trigger(spec) -> dict:
    if not spec.is_async:
        return _http_trigger(spec)
    return _sqs_trigger(spec) if forwarder.queue_backend(spec) == "sqs" else _redis_trigger(spec)


def render_scaled_object(spec, metadata: dict, group: str) -> dict:
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": group,
                "envSourceContainerName": "http-forwarder",
            },
            "pollingInterval": 5 if not spec.is_async else 10,
            "cooldownPeriod": COOLDOWN_SECONDS,
            "minReplicaCount": spec.min_workers,
            "maxReplicaCount": spec.max_workers,
            "advanced": {
                "restoreToOriginalReplicaCount": False,
                "horizontalPodAutoscalerConfig": {"behavior": _behavior()},
            },
            "triggers": [keda_trigger(spec)],
        },
    }


def render_cpu_hpa(spec, metadata: dict, group: str) -> dict:
    """Fallback without KEDA. Raises ValueError for min_workers 0 (an HPA cannot scale to zero)."""
    if spec.min_workers < 1:
        raise ValueError(MIN_WORKERS_ZERO_NEEDS_KEDA)
    return {
        "apiVersion": HPA_API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": group},
            "minReplicas": spec.min_workers,
            "maxReplicas": spec.max_workers,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
            "behavior": _behavior(),
        },
    }


def render_vpa(spec, metadata: dict, group: str) -> dict:
    """Right-sizes `main` between a small floor and what the user asked for; never touches the
    forwarder. Only rendered with KEDA: a VPA must not fight a CPU-based HPA."""
    return {
        "apiVersion": VPA_API_VERSION,
        "kind": "VerticalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": group},
            "updatePolicy": {"updateMode": "Auto"},
            "resourcePolicy": {
                "containerPolicies": [
                    {
                        "containerName": "main",
                        "minAllowed": {"cpu": "100m", "memory": "128Mi"},
                        "maxAllowed": {"cpu": str(spec.cpus), "memory": str(spec.memory)},
                        "controlledResources": ["cpu", "memory"],
                    },
                    {"containerName": "http-forwarder", "mode": "Off"},
                ]
            },
        },
    }
