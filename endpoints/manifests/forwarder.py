"""The `http-forwarder` sidecar and the endpoint-config ConfigMap it reads.

The forwarder (`python -m endpoints.forwarder`, no database) gets everything it needs twice:
as command-line arguments (enough to start) and as JSON in the ConfigMap mounted at
`/workspace/endpoint_config/config.json` (hooks, callback URL, labels...). Config changes that
do not change the arguments therefore reach running pods through the ConfigMap volume without
restarting them, which matters because a GPU pod restart reloads the model weights.
"""
import json

from django.conf import settings

from endpoints import redis_acl, report_tokens
from llmengine_site.names import endpoint_config_map_name, endpoint_secret_name

FORWARDER_PORT = 5000
USER_PORT = 5005
UPSTREAM = f"http://localhost:{USER_PORT}"
CONFIG_DIR = "/workspace/endpoint_config"
CONFIG_KEY = "config.json"
CONFIG_VOLUME = "endpoint-config"
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
REDIS_USERNAME_ENV = "REDIS_USERNAME"

FORWARDER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "100Mi"},
    "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
}


def queue_backend(spec) -> str:
    return spec.queue_backend or settings.LLME_QUEUE_BACKEND


def config_map_name(spec) -> str:
    return endpoint_config_map_name(spec.id)


def forwarder_routes(spec) -> list[str]:
    """POST routes relayed besides /predict and /stream, in order, without duplicates."""
    return list(dict.fromkeys([*spec.bundle.routes, *spec.bundle.extra_routes]))


def max_concurrency(spec) -> int:
    return spec.forwarder_max_concurrency or spec.concurrent_requests_per_worker


def endpoint_config(spec) -> dict:
    """The forwarder's view of the endpoint. Holds no secrets (it lives in a ConfigMap)."""
    bundle = spec.bundle
    config = {
        "endpoint_id": spec.id,
        "endpoint_name": spec.name,
        "endpoint_type": spec.endpoint_type,
        "owner": spec.owner,
        "created_by": spec.created_by,
        "labels": dict(spec.labels),
        "upstream": UPSTREAM,
        "routes": {
            "predict": bundle.predict_route,
            "stream": bundle.streaming_predict_route,
            "healthcheck": bundle.healthcheck_route,
            "extra": forwarder_routes(spec),
        },
        "post_inference_hooks": list(spec.post_inference_hooks),
        "default_callback_url": spec.default_callback_url,
        "concurrency": {
            "concurrent_requests_per_worker": spec.concurrent_requests_per_worker,
            "max_concurrency": max_concurrency(spec),
        },
        "queue": None,
    }
    if spec.is_async:
        config["queue"] = {
            "backend": queue_backend(spec),
            "name": spec.queue_name,
            "url": spec.queue_url,
            "visibility_timeout_seconds": spec.queue_visibility_timeout_seconds,
            "task_expires_seconds": spec.task_expires_seconds,
        }
    return config


def secret_values(spec) -> dict:
    """What an async endpoint's forwarder reads from its Secret. Never the control plane's
    credential (docs/security.md#what-isolates-teams); empty for other endpoints.

    - SQS backend: only the endpoint's report token; task state goes to the gateway
      (`endpoints/forwarder/task_reports.py`), the pod gets no Redis address or credential.
    - Redis backend: the URL of the endpoint's own Redis user (queue and results;
      `endpoints/redis_acl.py`) and, for KEDA's redis trigger, that user's name and password.
    """
    if not spec.is_async:
        return {}
    backend = queue_backend(spec)
    if backend == "sqs":
        return {report_tokens.ENV: report_tokens.token(spec.id)}
    urls = redis_acl.control_plane_urls(backend)
    if not urls:
        return {}
    values = {"REDIS_URL": redis_acl.endpoint_url(urls[0], spec.id)}
    queue_url = settings.LLME_QUEUE_REDIS_URL
    if queue_url in urls[1:]:
        values["LLME_QUEUE_REDIS_URL"] = redis_acl.endpoint_url(queue_url, spec.id)
    values[REDIS_USERNAME_ENV] = redis_acl.username(spec.id)
    values[REDIS_PASSWORD_ENV] = redis_acl.password(spec.id)
    return values


def render_secret(spec, metadata: dict) -> dict | None:
    """The forwarder's Secret (credentials stay out of the pod spec), or None when not needed."""
    values = secret_values(spec)
    if not values:
        return None
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {**metadata, "name": endpoint_secret_name(spec.id)}, "stringData": values}


def render_config_map(spec, metadata: dict) -> dict:
    text = json.dumps(endpoint_config(spec), sort_keys=True, indent=2)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {CONFIG_KEY: text}}


def forwarder_args(spec) -> list[str]:
    bundle = spec.bundle
    args = [
        "--mode", "queue" if spec.is_async else "http",
        "--port", str(FORWARDER_PORT),
        "--config", f"{CONFIG_DIR}/{CONFIG_KEY}",
        "--upstream", UPSTREAM,
        "--predict-route", bundle.predict_route,
        "--healthcheck-route", bundle.healthcheck_route,
    ]
    if spec.is_async:
        args += ["--queue-backend", queue_backend(spec), "--queue-name", spec.queue_name]
        if spec.queue_url:
            args += ["--queue-url", spec.queue_url]
        args += [
            "--concurrency", str(spec.concurrent_requests_per_worker),
            "--result-ttl-seconds", str(spec.task_expires_seconds),
        ]
        if spec.queue_visibility_timeout_seconds:
            args += ["--visibility-timeout-seconds", str(spec.queue_visibility_timeout_seconds)]
        return args
    if spec.endpoint_type == "streaming" and bundle.streaming_predict_route:
        args += ["--stream-route", bundle.streaming_predict_route]
    for route in forwarder_routes(spec):
        args += ["--route", route]
    return args + ["--max-concurrency", str(max_concurrency(spec))]


def forwarder_env(spec) -> list[dict]:
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "LLME_ENDPOINT_ID", "value": spec.id},
    ]
    if not spec.is_async:
        return env
    region = settings.LLME_AWS_REGION
    env += [{"name": "AWS_REGION", "value": region}, {"name": "AWS_DEFAULT_REGION", "value": region}]
    if queue_backend(spec) == "sqs":
        # Task state goes to the gateway Service (the chart's NetworkPolicy lets endpoint pods
        # reach the gateway pods), with the report token from the Secret.
        env.append({"name": "LLME_GATEWAY_URL", "value": settings.LLME_GATEWAY_URL})
    # The report token (SQS), or the endpoint's Redis user (Redis backend; KEDA's redis trigger
    # reads its name and password from this container's env). All from the Secret.
    for name in secret_values(spec):
        env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": endpoint_secret_name(spec.id), "key": name}}})
    bucket = settings.LLME_S3_BUCKET
    if bucket:
        # Results above the inline limit go to S3 (async-results/<task id>.json).
        env.append({"name": "LLME_S3_BUCKET", "value": bucket})
        env.append({"name": "LLME_ASYNC_RESULT_INLINE_MAX_BYTES",
                    "value": str(settings.LLME_ASYNC_RESULT_INLINE_MAX_BYTES)})
    return env


def forwarder_container(spec) -> dict:
    """The sidecar: port 5000, ready (`/readyz`) only once the model answers its health route."""
    return {
        "name": "http-forwarder",
        "image": settings.LLME_FORWARDER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-m", "endpoints.forwarder"],
        "args": forwarder_args(spec),
        "env": forwarder_env(spec),
        "ports": [{"name": "http", "containerPort": FORWARDER_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": FORWARDER_PORT},
            "initialDelaySeconds": spec.bundle.readiness_initial_delay_seconds,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {key: dict(value) for key, value in FORWARDER_RESOURCES.items()},
        "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}],
        # Our image runs as uid 10001 (Dockerfile), so non-root can be enforced here.
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
