"""Kubernetes and queue names of an endpoint (design §4).

Temporary private copy: `llmengine_site/infra/names.py` is the home of these two functions;
once it exists, import them from there and delete this module.
"""

GROUP_PREFIX = "llm-engine-endpoint-id-"


def endpoint_group_name(endpoint_id: str) -> str:
    """Name of every K8s object of the endpoint: DNS-1123 safe (lower case, "_" -> "-")."""
    return GROUP_PREFIX + endpoint_id.lower().replace("_", "-")


def endpoint_queue_name(endpoint_id: str) -> str:
    """The async queue: the endpoint id kept as is, matching the guide's `llm-engine-endpoint-id-*` IAM rule."""
    return GROUP_PREFIX + endpoint_id
