"""Service (how the gateway reaches the forwarders) and PodDisruptionBudget."""
from endpoints.manifests import forwarder
from llmengine_site.labels import APP, ROLE

SERVICE_PORT = 80


def _service(metadata: dict, selector: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": forwarder.FORWARDER_PORT, "protocol": "TCP"}
            ],
        },
    }


def render_service(metadata: dict, group: str) -> dict:
    """ClusterIP `<group>`: port 80 -> the forwarder's 5000 on every pod of the endpoint."""
    return _service(metadata, {APP: group})


def render_leader_service(metadata: dict, group: str) -> dict:
    """`<group>-leader`: only the leader pods of a LeaderWorkerSet serve HTTP."""
    return _service(metadata, {APP: group, ROLE: "leader"})


def render_pod_disruption_budget(metadata: dict, group: str) -> dict:
    """Node drains take at most half the replicas at once (an endpoint never drops to zero by a
    drain unless it has a single replica, where 50% rounds up to one)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {APP: group}}},
    }
