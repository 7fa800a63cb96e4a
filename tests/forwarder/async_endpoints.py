"""Helpers for tests that run an async endpoint for real: created through the live gateway,
built by the builder (fake K8s API, moto), its forwarder started with exactly what its Secret
holds, and tasks polled through the gateway."""
import base64
import time

import httpx
import redis

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from llmengine_site.names import endpoint_secret_name
from tests.fakes.redis_fixtures import KillableRedis

NS = "llm-engine"
AUTH = ("team-a", "")


def create_async_endpoint(gateway: str, name: str) -> ModelEndpoint:
    """An async endpoint created over HTTP and built once (status as the build left it)."""
    bundle = httpx.post(f"{gateway}/v2/model-bundles", auth=AUTH, json={
        "name": f"{name}-bundle", "schema_location": "s3://b/s.json",
        "flavor": {"flavor": "runnable_image", "repository": "echo", "tag": "1", "command": ["serve"],
                   "healthcheck_route": "/health"}})
    assert bundle.status_code == 200, bundle.text
    created = httpx.post(f"{gateway}/v1/model-endpoints", auth=AUTH, json={
        "name": name, "model_bundle_id": bundle.json()["model_bundle_id"], "endpoint_type": "async",
        "metadata": {}, "cpus": 1, "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 0,
        "max_workers": 1, "per_worker": 1, "labels": {}})
    assert created.status_code == 200, created.text
    endpoint = ModelEndpoint.objects.get(name=name)
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    return endpoint


def forwarder_secret(k8s_api, endpoint_id: str) -> dict | None:
    secret = k8s_api.get_object("Secret", NS, endpoint_secret_name(endpoint_id))
    if secret is None:
        return None
    if "data" in secret:
        return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    return dict(secret["stringData"])


def sqs_forwarder_env(k8s_api, endpoint_id: str, gateway: str) -> dict:
    """The forwarder's environment on SQS: its Secret and the gateway's URL, and no Redis."""
    return {**forwarder_secret(k8s_api, endpoint_id), "LLME_GATEWAY_URL": gateway, "REDIS_URL": "",
            "LLME_QUEUE_BACKEND": "sqs"}


def submit(gateway: str, endpoint_id: str, args) -> str:
    submitted = httpx.post(f"{gateway}/v1/async-tasks?model_endpoint_id={endpoint_id}", auth=AUTH,
                           json={"args": args})
    assert submitted.status_code == 200, submitted.text
    return submitted.json()["task_id"]


def poll(gateway: str, task_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = httpx.get(f"{gateway}/v1/async-tasks/{task_id}", auth=AUTH).json()
        if task.get("status") in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


class RedisWithoutAclRights(KillableRedis):
    """A private redis-server as on ElastiCache: the control plane's user `cp` may do everything
    but ACL and admin commands; `admin_url` is the test's own view."""

    def __init__(self):
        super().__init__("--requirepass", "admin-pw")
        self.start()
        self.admin_url = f"redis://:admin-pw@127.0.0.1:{self.port}/0"
        redis.Redis.from_url(self.admin_url).execute_command(
            "ACL", "SETUSER", "cp", "on", ">cp-pw", "~*", "&*", "+@all", "-@admin", "-acl")

    @property
    def url(self) -> str:
        return f"redis://cp:cp-pw@127.0.0.1:{self.port}/0"

    def users(self) -> set[str]:
        return {name.decode() for name in redis.Redis.from_url(self.admin_url).execute_command("ACL", "USERS")}
