"""Each async endpoint's forwarder has a Redis user of its own (endpoints/redis_acl.py): the
builder creates it, the forwarder Secret holds its URL, and with it the forwarder does its whole
queue and result work while every other key and every admin command is refused. Real Redis."""
import json

import httpx
import pytest
import redis

from endpoints import redis_acl, report_tokens
from endpoints.builder import endpoint_spec, endpoint_sync
from endpoints.choices import EndpointStatus
from endpoints.models import ModelEndpoint
from llmengine_site.names import endpoint_secret_name, redis_queue_key
from tests.fakes.model_servers import ModelServer
from tests.fakes.redis_fixtures import KillableRedis
from tests.forwarder.async_endpoints import create_async_endpoint, forwarder_secret, poll

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
NS = "llm-engine"
AUTH = ("team-a", "")


def _create_async_endpoint(gateway, name: str) -> ModelEndpoint:
    endpoint = create_async_endpoint(gateway, name)
    assert endpoint.status == EndpointStatus.READY, endpoint.status_reason
    return endpoint


@pytest.fixture
def redis_backend(settings):
    settings.LLME_QUEUE_BACKEND = "redis"
    settings.SECRET_KEY = "test-secret-key-for-redis-acl"


def test_the_forwarder_runs_its_tasks_with_its_own_redis_user_and_reaches_nothing_else(
        gateway, k8s_api, redis_backend, settings, start_forwarder):
    control = redis.Redis.from_url(settings.REDIS_URL)
    endpoint = _create_async_endpoint(gateway, "acl-a")
    other = _create_async_endpoint(gateway, "acl-b")
    values = forwarder_secret(k8s_api, endpoint.id)
    own_url = values["REDIS_URL"]
    assert own_url != settings.REDIS_URL
    assert redis_acl.username(endpoint.id) in own_url
    assert values["REDIS_USERNAME"] == redis_acl.username(endpoint.id)

    # The whole queue path, end to end, with only the Secret's URL.
    with ModelServer("echo") as model:
        start_forwarder(endpoint_spec(endpoint), model.url, "--poll-wait-seconds", "1",
                        env={"LLME_QUEUE_BACKEND": "redis", "REDIS_URL": own_url})
        submitted = httpx.post(f"{gateway}/v1/async-tasks?model_endpoint_id={endpoint.id}", auth=AUTH,
                               json={"args": {"y": 1}})
        assert submitted.status_code == 200, submitted.text
        task = poll(gateway, submitted.json()["task_id"])
    assert task["status"] == "SUCCESS", task
    assert json.loads(task["result"]["result"]) == {"echo": {"y": 1}}

    own = redis.Redis.from_url(own_url, decode_responses=True)
    # What KEDA's redis trigger does with the same user.
    assert own.llen(redis_queue_key(f"llm-engine-endpoint-id-{endpoint.id}", "pending")) == 0

    # Everything else is refused: the API-key cache, the broker, another endpoint's queue and
    # results, the gateway's task records, and admin commands.
    control.set("llme:1:apikey:0123", "cached identity")
    control.set("llme-dramatiq:default.msgs", "broker")
    foreign_submit = httpx.post(f"{gateway}/v1/async-tasks?model_endpoint_id={other.id}", auth=AUTH,
                                json={"args": {"z": 2}})
    assert foreign_submit.status_code == 200
    foreign_queue = f"llm-engine-endpoint-id-{other.id}"
    attempts = {
        "read the API-key cache": lambda: own.get("llme:1:apikey:0123"),
        "overwrite the API-key cache": lambda: own.set("llme:1:apikey:0123", "forged"),
        "read the broker's keys": lambda: own.get("llme-dramatiq:default.msgs"),
        "read another endpoint's queue": lambda: own.llen(redis_queue_key(foreign_queue, "pending")),
        "take another endpoint's messages": lambda: own.hgetall(redis_queue_key(foreign_queue, "messages")),
        "write another endpoint's results": lambda: own.hset(
            f"llme:result:{other.id}:{foreign_submit.json()['task_id']}", "status", "SUCCESS"),
        "change the owner of a task": lambda: own.hset(f"llme:task:{task['task_id']}", "owner", "team-b"),
        "list the queues": lambda: own.smembers("llme:queues"),
        "CONFIG GET": lambda: own.config_get("*"),
        "ACL LIST": lambda: own.acl_list(),
        "ACL SETUSER": lambda: own.execute_command("ACL", "SETUSER", "evil", "on", ">x", "~*", "+@all"),
        "KEYS": lambda: own.keys("*"),
        "FLUSHALL": lambda: own.flushall(),
        "a script on another key": lambda: own.eval("return redis.call('GET', KEYS[1])", 1, "llme:1:apikey:0123"),
    }
    allowed = []
    for what, attempt in attempts.items():
        try:
            attempt()
        except redis.exceptions.NoPermissionError:
            continue
        allowed.append(what)
    assert allowed == []
    assert control.get("llme:1:apikey:0123") == b"cached identity"
    assert control.hget(f"llme:task:{task['task_id']}", "owner") == b"team-a"


def test_a_rebuild_keeps_running_pods_connected_and_teardown_removes_the_user(
        gateway, k8s_api, redis_backend, settings):
    control = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    endpoint = _create_async_endpoint(gateway, "acl-rebuild")
    url = forwarder_secret(k8s_api, endpoint.id)["REDIS_URL"]
    running = redis.Redis.from_url(url)
    assert running.ping()

    changed = httpx.put(f"{gateway}/v1/model-endpoints/{endpoint.id}", auth=AUTH, json={"max_workers": 2})
    assert changed.status_code == 200, changed.text
    endpoint_sync(endpoint.id)
    assert forwarder_secret(k8s_api, endpoint.id)["REDIS_URL"] == url  # same password: nothing to restart
    assert running.ping() and redis.Redis.from_url(url).ping()

    assert redis_acl.username(endpoint.id) in control.acl_users()
    assert httpx.delete(f"{gateway}/v1/model-endpoints/{endpoint.id}", auth=AUTH).status_code == 200
    endpoint_sync(endpoint.id)
    assert not ModelEndpoint.objects.filter(pk=endpoint.id).exists()
    assert redis_acl.username(endpoint.id) not in control.acl_users()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(url).ping()


@pytest.fixture
def redis_without_acl():
    """A real redis-server whose ACL command is disabled, as on Redis before 6 or a managed Redis
    that keeps ACL commands to itself."""
    server = KillableRedis("--rename-command", "ACL", "")
    server.start()
    yield server.url
    server.close()


def test_without_acl_support_the_build_fails_naming_it(gateway, k8s_api, redis_backend, settings, redis_without_acl):
    bundle = httpx.post(f"{gateway}/v2/model-bundles", auth=AUTH, json={
        "name": "noacl", "schema_location": "s3://b/s.json",
        "flavor": {"flavor": "runnable_image", "repository": "echo", "tag": "1", "command": ["serve"],
                   "healthcheck_route": "/health"}}).json()["model_bundle_id"]
    created = httpx.post(f"{gateway}/v1/model-endpoints", auth=AUTH, json={
        "name": "noacl", "model_bundle_id": bundle, "endpoint_type": "async", "metadata": {}, "cpus": 1,
        "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 0, "max_workers": 1, "per_worker": 1,
        "labels": {}})
    assert created.status_code == 200, created.text
    settings.REDIS_URL = redis_without_acl  # what the builder sees: a Redis that refuses ACL

    endpoint = ModelEndpoint.objects.get(name="noacl")
    endpoint_sync(endpoint.id)

    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.UPDATE_FAILED
    assert "does not accept ACL commands" in endpoint.status_reason and "Redis 6" in endpoint.status_reason
    assert k8s_api.get_object("Secret", NS, endpoint_secret_name(endpoint.id)) is None
    assert k8s_api.objects("Deployment", NS) == []


def test_the_rules_name_only_the_endpoints_keys():
    rules = redis_acl.acl_rules("end_abc", "redis")
    assert [rule for rule in rules if rule.startswith("~")] == [
        "~llme:result:end_abc:*", "~llme:queue:llm-engine-endpoint-id-end_abc:*"]
    assert [rule for rule in redis_acl.acl_rules("end_abc", "sqs") if rule.startswith("~")] == [
        "~llme:result:end_abc:*"]
    assert rules[0] == "reset" and not any(rule.startswith("+@") for rule in rules)
    with pytest.raises(ValueError):
        redis_acl.username("end_*")


def test_the_endpoint_url_keeps_the_server_and_options_but_not_the_control_planes_credential(settings):
    settings.SECRET_KEY = "k"
    url = redis_acl.endpoint_url("rediss://:cp-password@redis.internal:6380/3?ssl_cert_reqs=required", "end_x")
    assert url == (f"rediss://llme-endpoint-end_x:{redis_acl.password('end_x')}@redis.internal:6380/3"
                   "?ssl_cert_reqs=required")
    assert "cp-password" not in url


def test_the_cacher_restores_a_user_redis_lost(gateway, k8s_api, redis_backend, settings):
    from endpoints.reconciler import reconcile_once
    from llmengine_site.infra.kube import get_kube

    control = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    endpoint = _create_async_endpoint(gateway, "acl-restart")
    url = forwarder_secret(k8s_api, endpoint.id)["REDIS_URL"]
    control.execute_command("ACL", "DELUSER", redis_acl.username(endpoint.id))  # a Redis restart without ACL file
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(url).ping()

    summary = reconcile_once(get_kube(), prune=False)

    assert f"redis-user/{endpoint.id}" in summary.repaired
    assert redis.Redis.from_url(url).ping()
    assert f"redis-user/{endpoint.id}" not in reconcile_once(get_kube(), prune=False).repaired


def test_a_separate_queue_redis_gets_the_endpoints_user_too(settings):
    from endpoints.manifests.forwarder import secret_values
    from tests.manifests.factories import ENDPOINT_ID, async_spec

    settings.SECRET_KEY = "k"
    settings.REDIS_URL = "redis://:results-pw@results.internal:6379/0"
    settings.LLME_QUEUE_REDIS_URL = "rediss://:queue-pw@queue.internal:6380/1"
    user, password = redis_acl.username(ENDPOINT_ID), redis_acl.password(ENDPOINT_ID)

    on_redis = secret_values(async_spec(queue_backend="redis", queue_url=None))
    on_sqs = secret_values(async_spec(queue_backend="sqs"))

    assert on_redis == {"REDIS_URL": f"redis://{user}:{password}@results.internal:6379/0",
                        "LLME_QUEUE_REDIS_URL": f"rediss://{user}:{password}@queue.internal:6380/1",
                        "REDIS_USERNAME": user, "REDIS_PASSWORD": password}
    assert on_sqs == {"LLME_TASK_REPORT_TOKEN": report_tokens.token(ENDPOINT_ID)}  # no Redis at all
    assert redis_acl.control_plane_urls("redis") == [settings.REDIS_URL, settings.LLME_QUEUE_REDIS_URL]
    assert redis_acl.control_plane_urls("sqs") == []  # no Redis user for SQS endpoints
