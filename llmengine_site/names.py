"""Every name we give to something outside the database: Kubernetes objects, queues, caches
(docs/naming.md#kubernetes-objects, docs/naming.md#queues-and-redis-keys). Pure: no Django.

Names follow the self-hosting guide: the guide's IAM policy allows `llm-engine-endpoint-id-*`
queues and its pod listing shows `llm-engine-endpoint-id-end-…` and `llm-engine-image-cache-…`.
Changing a name here orphans what already exists under the old one.
"""
ENDPOINT_PREFIX = "llm-engine-endpoint-id-"
IMAGE_CACHE_PREFIX = "llm-engine-image-cache-"
JOB_PREFIX = "llm-engine-job-"
TRIGGER_PREFIX = "llm-engine-trigger-"
HIGH_PRIORITY_CLASS = "llm-engine-high-priority"


def dns_label(object_id: str) -> str:
    """An id as it may appear in a Kubernetes name (a DNS label): lower-cased, `_` becomes `-`."""
    return object_id.lower().replace("_", "-")


def endpoint_group_name(endpoint_id: str) -> str:
    """Name of the endpoint's Deployment, Service, autoscaler, PDB and ConfigMap."""
    return ENDPOINT_PREFIX + dns_label(endpoint_id)


def endpoint_config_map_name(endpoint_id: str) -> str:
    """ConfigMap holding the endpoint's configuration for the forwarder."""
    return endpoint_group_name(endpoint_id) + "-endpoint-config"


def endpoint_secret_name(endpoint_id: str) -> str:
    """Secret holding what the forwarder must not see as plain pod-spec values (its report token
    on SQS, its Redis user's URL on the Redis queue backend)."""
    return endpoint_group_name(endpoint_id) + "-forwarder"


def endpoint_leader_service_name(endpoint_id: str) -> str:
    """Service in front of the leader pods of a multi-node (LeaderWorkerSet) endpoint."""
    return endpoint_group_name(endpoint_id) + "-leader"


def endpoint_queue_name(endpoint_id: str) -> str:
    """The async endpoint's queue; the id is kept verbatim (SQS allows `_`)."""
    return ENDPOINT_PREFIX + endpoint_id


def endpoint_id_from_queue_name(queue_name: str) -> str | None:
    """Inverse of `endpoint_queue_name` (None for a queue that is not an endpoint queue);
    used when pruning queues whose endpoint no longer exists."""
    if not queue_name.startswith(ENDPOINT_PREFIX):
        return None
    return queue_name[len(ENDPOINT_PREFIX):] or None


def gpu_short_name(gpu_type: str | None) -> str:
    """`nvidia-ampere-a10` -> `a10`, `nvidia-hopper-h100-1g20gb` -> `h100-1g20gb`, None -> `cpu`."""
    if not gpu_type:
        return "cpu"
    parts = gpu_type.lower().split("-")
    return "-".join(parts[2:]) if parts[0] == "nvidia" and len(parts) > 2 else gpu_type.lower()


def image_cache_daemonset_name(gpu_type: str | None) -> str:
    """Image-cache DaemonSet for a node type, e.g. `llm-engine-image-cache-a10`."""
    return IMAGE_CACHE_PREFIX + gpu_short_name(gpu_type)


def redis_queue_key(queue_name: str, part: str) -> str:
    """Keys of an endpoint queue on the Redis backend; `pending` is the list of waiting
    message ids, which KEDA's redis trigger measures."""
    return f"llme:queue:{queue_name}:{part}"


def job_name(job_id: str) -> str:
    """Name of the job's Kubernetes Job and (with `-config`) its config Secret."""
    return JOB_PREFIX + dns_label(job_id)


def job_config_name(job_id: str) -> str:
    """The job's config Secret (jobs launched before it was a Secret have a ConfigMap so named)."""
    return job_name(job_id) + "-config"


def trigger_name(trigger_id: str) -> str:
    """Name of the trigger's CronJob and (with `-credential`) its Secret."""
    return TRIGGER_PREFIX + dns_label(trigger_id)


def trigger_secret_name(trigger_id: str) -> str:
    return trigger_name(trigger_id) + "-credential"
