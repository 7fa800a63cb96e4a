"""Pure functions: job and trigger rows -> Kubernetes objects (plain dicts). No DB, no network.

Guarantees:
- a job's container environment is the job's own env plus a few variables we name here; the
  control plane's own environment (DATABASE_URL, SECRET_KEY, REDIS_URL, cloud keys …) is never
  copied into it (docs/wire-contract.md#secrets-and-user-workloads);
- the job's config is a Secret (it may carry tenant credentials, e.g. a wandb api_key) mounted
  read-only as one file at `mount_location`; never a ConfigMap;
- GPU jobs use the same node selector and toleration as endpoint pods;
- every object carries `app.kubernetes.io/managed-by: llm-engine` and `llm-engine.io/job-id`
  (or `llm-engine.io/trigger-id`), which is how the reconciler finds and prunes them.
"""
import json
import posixpath

from django.conf import settings

from endpoints.manifests import scheduling
from llmengine_site.labels import (
    COMPONENT, CREATED_BY, JOB_ID, JOB_KIND, MANAGED_BY, MANAGED_BY_VALUE, OWNER, TRIGGER_ID, TRIGGER_NAME, USER_LABEL_KEYS,
    label_value,
)
from llmengine_site.names import job_config_name, job_name, trigger_name, trigger_secret_name

MAIN_CONTAINER = "main"
CONFIG_KEY = "config.json"
CONFIG_VOLUME = "job-config"
SHM_VOLUME = "dshm"
TRIGGER_SECRET_MOUNT = "/var/run/llm-engine/trigger"
# Variables the platform sets in every job container; a job's env cannot override them.
RESERVED_ENV = ("LLME_JOB_ID", "LLME_JOB_CONFIG_PATH", "POD_NAME", "POD_NAMESPACE", "JOB_COMPLETION_INDEX")


def namespace() -> str:
    return settings.LLME_ENDPOINT_NAMESPACE


def job_labels(job) -> dict:
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        COMPONENT: "job",
        JOB_ID: label_value(job.id),
        JOB_KIND: job.kind,
        OWNER: label_value(job.owner),
    }
    for key in USER_LABEL_KEYS:
        if job.labels.get(key):
            labels[key] = label_value(str(job.labels[key]))
    if job.trigger_id:
        labels[TRIGGER_ID] = label_value(job.trigger_id)
    return labels


def render_job_config_secret(job) -> dict:
    """The job's config file. A Secret, not a ConfigMap: the config holds what the tenant gave
    (a fine-tune's wandb api_key, a batch job's own settings), and ConfigMaps are readable by
    anyone who may read the namespace's configuration."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": job_config_name(job.id), "namespace": namespace(), "labels": job_labels(job)},
        "stringData": {CONFIG_KEY: json.dumps(job.job_config, sort_keys=True)},
    }


def _resources(job) -> dict:
    amounts = {}
    if job.cpus:
        amounts["cpu"] = str(job.cpus)
    if job.memory:
        amounts["memory"] = str(job.memory)
    if job.storage:
        amounts["ephemeral-storage"] = str(job.storage)
    if job.gpus:
        amounts[scheduling.GPU_RESOURCE] = str(job.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def job_env(job) -> list[dict]:
    """The container's environment: ours first (names in RESERVED_ENV), then the job's own."""
    env = [
        {"name": "LLME_JOB_ID", "value": job.id},
        {"name": "LLME_JOB_CONFIG_PATH", "value": job.mount_location},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    for name in sorted(job.env or {}):
        if name not in RESERVED_ENV:
            env.append({"name": name, "value": str(job.env[name])})
    return env


# The batch runner beside its model server needs little: the server gets the job's resources.
RUNNER_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
MODEL_SERVER_CONTAINER = "model-server"
# Weights are downloaded before the server answers /health: allow an hour for that.
MODEL_SERVER_STARTUP_SECONDS = 3600
BATCH_BACKOFF_LIMIT = 3  # a restarted runner resumes from its checkpoint


def _model_server_sidecar(job, server: dict) -> dict:
    """The model server as a native sidecar (an init container with `restartPolicy: Always`,
    Kubernetes ≥ 1.29): it starts before the runner, is restarted if it dies, and is stopped
    when the runner exits, so the Job completes with the runner."""
    probe = {"httpGet": {"path": server.get("health_route") or "/health", "port": int(server["port"])}}
    return {
        "name": MODEL_SERVER_CONTAINER,
        "image": server["image"],
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",
        "command": [str(part) for part in server["command"]],
        "env": [{"name": name, "value": str(value)} for name, value in sorted((server.get("env") or {}).items())],
        "ports": [{"name": "http", "containerPort": int(server["port"])}],
        "resources": _resources(job),
        "startupProbe": {**probe, "periodSeconds": 10, "failureThreshold": MODEL_SERVER_STARTUP_SECONDS // 10},
        "readinessProbe": {**probe, "periodSeconds": 10},
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }


def _pod_spec(job) -> dict:
    mount_dir, mount_file = posixpath.split(job.mount_location)
    server = (job.job_config or {}).get("model_server")
    container = {
        "name": MAIN_CONTAINER,
        "image": job.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [str(part) for part in job.command],
        "env": job_env(job),
        "resources": _resources(job),
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": job.mount_location, "subPath": CONFIG_KEY, "readOnly": True},
            {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
        ],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if server:
        container["resources"] = RUNNER_RESOURCES
        container["volumeMounts"] = container["volumeMounts"][:1]
    pod = {
        "restartPolicy": "Never",
        **({"initContainers": [_model_server_sidecar(job, server)]} if server else {}),
        "containers": [container],
        "volumes": [
            {"name": CONFIG_VOLUME, "secret": {"secretName": job_config_name(job.id)}},
            # Training and vLLM need a large /dev/shm; the container default is 64Mi.
            {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
        ],
        # User code runs here: it gets no Kubernetes API token and no service links.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    account = settings.LLME_JOB_SERVICE_ACCOUNT or settings.LLME_ENDPOINT_SERVICE_ACCOUNT
    if account:
        pod["serviceAccountName"] = account
    if job.gpus:
        pod["nodeSelector"] = scheduling.gpu_node_selector(job.gpu_type)
        pod["tolerations"] = [dict(scheduling.GPU_TOLERATION)]
    return pod


def render_job(job) -> dict:
    """The `batch/v1` Job: one attempt (backoffLimit 0; a batch completion, whose runner resumes
    from its checkpoint, gets a few), bounded by `max_runtime_seconds`."""
    labels = job_labels(job)
    resumable = bool((job.job_config or {}).get("model_server"))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(job.id),
            "namespace": namespace(),
            "labels": labels,
            "annotations": {CREATED_BY: job.created_by, **_string_map(job.annotations)},
        },
        "spec": {
            "backoffLimit": BATCH_BACKOFF_LIMIT if resumable else 0,
            "activeDeadlineSeconds": int(job.max_runtime_seconds),
            "completions": job.num_workers,
            "parallelism": job.num_workers,
            "completionMode": "Indexed",
            "template": {
                "metadata": {
                    "labels": labels,
                    # A preempted training pod loses hours of work.
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                },
                "spec": _pod_spec(job),
            },
        },
    }


def _string_map(values: dict | None) -> dict:
    return {str(key): value if isinstance(value, str) else json.dumps(value) for key, value in (values or {}).items()}


def render_trigger_secret(trigger, credential: str, request_body: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": trigger_secret_name(trigger.id), "namespace": namespace(), "labels": trigger_labels(trigger)},
        "stringData": {"credential": credential, "request.json": json.dumps(request_body, sort_keys=True)},
    }


def trigger_labels(trigger) -> dict:
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        COMPONENT: "trigger",
        TRIGGER_ID: label_value(trigger.id),
        OWNER: label_value(trigger.owner),
    }


# The credential and body come from the mounted Secret, never from the command line or env.
_TRIGGER_SCRIPT = (
    'curl --fail-with-body --silent --show-error --max-time 30 -X POST '
    '"$LLME_GATEWAY_URL/v1/docker-image-batch-jobs" '
    '-H "Content-Type: application/json" '
    f'-H "Authorization: Bearer $(cat {TRIGGER_SECRET_MOUNT}/credential)" '
    f'--data-binary @{TRIGGER_SECRET_MOUNT}/request.json'
)


def render_trigger_cron_job(trigger) -> dict:
    """The CronJob that POSTs the trigger's job request to the gateway on schedule."""
    labels = trigger_labels(trigger)
    gateway = settings.LLME_GATEWAY_URL
    container = {
        "name": MAIN_CONTAINER,
        "image": settings.LLME_TRIGGER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", _TRIGGER_SCRIPT],
        "env": [{"name": "LLME_GATEWAY_URL", "value": gateway}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "volumeMounts": [{"name": "credential", "mountPath": TRIGGER_SECRET_MOUNT, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": trigger_name(trigger.id), "namespace": namespace(), "labels": labels,
                     "annotations": {TRIGGER_NAME: trigger.name}},
        "spec": {
            "schedule": trigger.cron_schedule,
            "suspend": bool(trigger.suspend),
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 120,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [container],
                            "volumes": [{"name": "credential", "secret": {"secretName": trigger_secret_name(trigger.id)}}],
                            "automountServiceAccountToken": False,
                            "enableServiceLinks": False,
                            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        },
                    },
                },
            },
        },
    }
