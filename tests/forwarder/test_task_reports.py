"""Async endpoints on the SQS queue backend hold no Redis credential: their forwarder reports task
state to the gateway (`POST /v1/internal/endpoints/<id>/tasks/<task id>`) with the endpoint's
report token. Real Redis, moto's SQS and S3, the fake K8s API, the live gateway, the real
forwarder started with exactly what the builder put into its Secret."""
import json
import time

import httpx
import pytest
import redis

from endpoints import report_tokens, task_results
from endpoints.builder import endpoint_spec
from endpoints.choices import EndpointStatus
from llmengine_site.infra import aws as aws_adapter, queues
from tests.fakes.aws_fixtures import free_port
from tests.fakes.model_servers import ModelServer
from tests.fakes.post_server import PostServer
from tests.forwarder.async_endpoints import (
    AUTH, RedisWithoutAclRights, create_async_endpoint, forwarder_secret, poll, sqs_forwarder_env,
    submit,
)
from tests.fixtures_gateway import GatewayOnPort
from tests.forwarder.conftest import ENDPOINT_ID, endpoint_spec as forwarder_spec, wait_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BUCKET = "llme-results"


@pytest.fixture
def sqs_backend(settings, aws):
    settings.LLME_QUEUE_BACKEND = "sqs"
    settings.SECRET_KEY = "test-secret-key-for-task-reports"
    aws_adapter.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    settings.LLME_S3_BUCKET = BUCKET
    settings.LLME_ASYNC_RESULT_INLINE_MAX_BYTES = 1024
    return settings


def _messages_in_flight(endpoint_id: str) -> tuple[int, int]:
    """(visible, in flight) messages of the endpoint's queue."""
    attributes = aws_adapter.client("sqs").get_queue_attributes(
        QueueUrl=queues.queue_url(endpoint_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_on_sqs_the_forwarder_reports_through_the_gateway_with_only_its_token(
        gateway, k8s_api, sqs_backend, start_forwarder):
    control = redis.Redis.from_url(sqs_backend.REDIS_URL, decode_responses=True)
    users_before = set(control.acl_users())
    endpoint = create_async_endpoint(gateway, "report-a")
    assert endpoint.status == EndpointStatus.READY, endpoint.status_reason
    assert forwarder_secret(k8s_api, endpoint.id) == {report_tokens.ENV: report_tokens.token(endpoint.id)}
    assert set(control.acl_users()) == users_before  # no Redis user for an SQS endpoint

    with ModelServer("echo") as model:
        forwarder = start_forwarder(endpoint_spec(endpoint), model.url, "--poll-wait-seconds", "1",
                                    env=sqs_forwarder_env(k8s_api, endpoint.id, gateway))
        small = submit(gateway, endpoint.id, {"y": 1})
        large_args = {"text": "x" * 5000}  # above the 1 KiB inline limit: stored in S3
        large = submit(gateway, endpoint.id, large_args)
        done_small, done_large = poll(gateway, small), poll(gateway, large)
    assert done_small["status"] == "SUCCESS", (done_small, forwarder.log())
    assert json.loads(done_small["result"]["result"]) == {"echo": {"y": 1}}
    assert done_large["status"] == "SUCCESS", (done_large, forwarder.log())
    assert json.loads(done_large["result"]["result"]) == {"echo": large_args}
    stored = control.hgetall(task_results.result_key(endpoint.id, large))
    assert stored["result_location"] == f"s3://{BUCKET}/async-results/{large}.json" and "result" not in stored
    assert control.hget(task_results.task_key(small), "owner") == "team-a"
    assert httpx.get(f"{gateway}/v1/async-tasks/{small}", auth=("team-b", "")).status_code == 404
    assert _messages_in_flight(endpoint.id) == (0, 0)


@pytest.fixture
def elasticache(settings):
    server = RedisWithoutAclRights()
    settings.REDIS_URL = server.url  # the control plane's Redis user may not run ACL commands
    yield server
    server.close()


def test_on_a_redis_refusing_acl_commands_sqs_endpoints_work_and_redis_backend_builds_fail(
        gateway, k8s_api, sqs_backend, elasticache, start_forwarder):
    endpoint = create_async_endpoint(gateway, "on-elasticache")
    assert endpoint.status == EndpointStatus.READY, endpoint.status_reason
    with ModelServer("echo") as model:
        start_forwarder(endpoint_spec(endpoint), model.url, "--poll-wait-seconds", "1",
                        env=sqs_forwarder_env(k8s_api, endpoint.id, gateway))
        task = poll(gateway, submit(gateway, endpoint.id, {"z": 3}))
    assert task["status"] == "SUCCESS", task
    assert json.loads(task["result"]["result"]) == {"echo": {"z": 3}}
    assert elasticache.users() == {"default", "cp"}

    sqs_backend.LLME_QUEUE_BACKEND = "redis"
    refused = create_async_endpoint(gateway, "redis-queue-on-elasticache")
    assert refused.status == EndpointStatus.UPDATE_FAILED
    assert "does not accept ACL commands" in refused.status_reason and "Redis 6" in refused.status_reason
    assert forwarder_secret(k8s_api, refused.id) is None


def test_the_gateway_being_down_keeps_the_message_until_the_result_is_delivered(
        gateway, k8s_api, sqs_backend, start_forwarder):
    endpoint = create_async_endpoint(gateway, "report-outage")
    internal = GatewayOnPort(free_port())  # the gateway Service the forwarder calls
    internal.start()
    try:
        with ModelServer("echo", delay=2.0) as model:
            forwarder = start_forwarder(endpoint_spec(endpoint), model.url, "--poll-wait-seconds", "1",
                                        env=sqs_forwarder_env(k8s_api, endpoint.id, internal.url))
            task_id = submit(gateway, endpoint.id, {"late": True})
            wait_until(lambda: model.state.requests, 15, message="the task to reach the model (STARTED taken)")
            assert poll(gateway, task_id, timeout=0)["status"] == "STARTED"
            internal.stop()  # the result is ready while the gateway is down
            wait_until(lambda: "SUCCESS report (attempt 3" in forwarder.log(), 20, interval=0.2,
                       message="the forwarder retrying its report")
            assert poll(gateway, task_id, timeout=0)["status"] == "STARTED"
            assert _messages_in_flight(endpoint.id) == (0, 1)  # kept, hidden, not deleted
            internal.start()
            task = poll(gateway, task_id)
    finally:
        internal.stop()
    assert task["status"] == "SUCCESS", (task, forwarder.log())
    assert json.loads(task["result"]["result"]) == {"echo": {"late": True}}
    retries = [line for line in forwarder.log().splitlines() if "did not take the SUCCESS report" in line]
    assert len(retries) >= 3 and "attempt 1;" in retries[0] and "attempt 2;" in retries[1]
    assert len(model.state.requests) == 1  # delivered later, not run again
    wait_until(lambda: _messages_in_flight(endpoint.id) == (0, 0), 10, message="the message to be deleted")


def _report(gateway: str, endpoint_id: str, task_id: str, body: dict, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(f"{gateway}/v1/internal/endpoints/{endpoint_id}/tasks/{task_id}", json=body, headers=headers)


def test_forged_reports_are_refused_and_change_nothing(gateway, settings):
    settings.SECRET_KEY = "test-secret-key-for-task-reports"
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    task_results.record_submitted(client, "task-of-a", "team-a", 600, "end_a")
    task_results.record_submitted(client, "task-of-b", "team-b", 600, "end_b")
    token_a, token_b = report_tokens.token("end_a"), report_tokens.token("end_b")
    success = {"status": "SUCCESS", "result": {"forged": True}, "ttl_seconds": 600}

    assert _report(gateway, "end_a", "task-of-a", success, None).status_code == 401
    assert _report(gateway, "end_a", "task-of-a", success, "0" * 64).status_code == 403
    assert _report(gateway, "end_a", "task-of-a", success, token_b).status_code == 403  # B's token, A's task
    assert _report(gateway, "end_b", "task-of-b", {"status": "STARTED"}, token_a).status_code == 403
    assert _report(gateway, "end_a", "task-of-b", success, token_a).status_code == 404  # A's token, B's task
    assert _report(gateway, "end_a", "no-such-task", success, token_a).status_code == 404
    for task_id, endpoint_id in (("task-of-a", "end_a"), ("task-of-b", "end_b"), ("task-of-b", "end_a")):
        assert not client.exists(task_results.result_key(endpoint_id, task_id)), (task_id, endpoint_id)
    assert task_results.read_task(client, "task-of-b")["status"] == "PENDING"

    elsewhere = {**success, "result": None, "result_location": "s3://llme-results/llm-engine/files/secret.csv"}
    refused = _report(gateway, "end_a", "task-of-a", elsewhere, token_a)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "result_location"]
    bad = _report(gateway, "end_a", "task-of-a", {"status": "PENDING"}, token_a)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "status"]
    assert not client.exists(task_results.result_key("end_a", "task-of-a"))

    assert _report(gateway, "end_a", "task-of-a", {**success, "owner": "team-b"}, token_a).json() == {
        "task_id": "task-of-a", "status": "SUCCESS"}
    again = _report(gateway, "end_a", "task-of-a", {"status": "STARTED"}, token_a)
    assert again.status_code == 409  # a finished task never goes back to STARTED
    task = task_results.read_task(client, "task-of-a")
    assert (task["status"], task["result"], task["owner"]) == ("SUCCESS", {"forged": True}, "team-a")
    assert httpx.get(f"{gateway}/v1/async-tasks/task-of-a", auth=AUTH).json()["status"] == "SUCCESS"


def test_a_report_body_over_the_limit_is_refused_and_changes_nothing(gateway, settings):
    settings.SECRET_KEY = "test-secret-key-for-task-reports"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    task_results.record_submitted(client, "task-big", "team-a", 600, "end_a")
    answer = _report(gateway, "end_a", "task-big", {"status": "SUCCESS", "ttl_seconds": 60, "result": "x" * 8192},
                     report_tokens.token("end_a"))
    assert answer.status_code == 413
    assert task_results.read_task(client, "task-big")["status"] == "PENDING"


class ScriptedGateway(PostServer):
    """An HTTP server standing in for the gateway: answers each report with the next status of
    `script` (200 once it runs out) and records `(status, report)`."""

    def __init__(self, script: list[int]):
        self.script, self.reports = list(script), []

    def answer(self, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        report = json.loads(body)
        status = self.script.pop(0) if self.script and report["status"] != "STARTED" else 200
        self.reports.append((status, report))
        return status, json.dumps({"status": report["status"]}).encode()


def test_a_gateway_answering_503_and_429_is_retried_and_the_message_kept_until_it_takes_the_result(
        aws, settings, start_forwarder):
    settings.LLME_QUEUE_BACKEND = "sqs"
    queues.ensure_queue(ENDPOINT_ID, "forwarder-test", "team-a", 600)
    message = {"task_id": "task-retried", "owner": "team-a", "submitted_at": "2026-01-01T00:00:00+00:00",
               "expires_at": time.time() + 600, "payload": {"args": {"n": 1}}}
    with ModelServer("echo") as model, ScriptedGateway([503, 429, 502]) as fake_gateway:
        forwarder = start_forwarder(
            forwarder_spec(endpoint_type="async", queue_backend="sqs"), model.url, "--poll-wait-seconds", "1",
            env={"REDIS_URL": "", "LLME_GATEWAY_URL": fake_gateway.url, report_tokens.ENV: "token"})
        queues.send_message(ENDPOINT_ID, json.dumps(message))
        wait_until(lambda: len(fake_gateway.reports) >= 3, 15, message="two refused SUCCESS reports")
        assert _messages_in_flight(ENDPOINT_ID) == (0, 1)  # not deleted while the gateway refuses
        wait_until(lambda: _messages_in_flight(ENDPOINT_ID) == (0, 0), 20, message="the message to be deleted")
    statuses = [(status, report["status"]) for status, report in fake_gateway.reports]
    assert statuses == [(200, "STARTED"), (503, "SUCCESS"), (429, "SUCCESS"), (502, "SUCCESS"), (200, "SUCCESS")]
    assert fake_gateway.reports[-1][1] == {"status": "SUCCESS", "ttl_seconds": 600, "traceback": None,
                                           "status_code": 200, "result": {"echo": {"n": 1}}}
    retries = [line for line in forwarder.log().splitlines() if "did not take the SUCCESS report" in line]
    assert [("attempt %d;" % n) in line for n, line in enumerate(retries, 1)] == [True, True, True]
    assert "HTTP 503" in retries[0] and "HTTP 429" in retries[1]


def test_a_forwarder_with_a_wrong_token_runs_nothing_and_keeps_the_message(gateway, aws, settings, start_forwarder):
    settings.LLME_QUEUE_BACKEND = "sqs"
    settings.SECRET_KEY = "test-secret-key-for-task-reports"
    queues.ensure_queue(ENDPOINT_ID, "forwarder-test", "team-a", 600)
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    task_results.record_submitted(client, "task-wrong-token", "team-a", 600, ENDPOINT_ID)
    with ModelServer("echo") as model:
        forwarder = start_forwarder(
            forwarder_spec(endpoint_type="async", queue_backend="sqs"), model.url, "--poll-wait-seconds", "1",
            env={"REDIS_URL": "", "LLME_GATEWAY_URL": gateway, report_tokens.ENV: report_tokens.token("end_other")})
        queues.send_message(ENDPOINT_ID, json.dumps({
            "task_id": "task-wrong-token", "owner": "team-a", "expires_at": time.time() + 600,
            "submitted_at": "2026-01-01T00:00:00+00:00", "payload": {"args": {"n": 1}}}))
        wait_until(lambda: "refused the report with HTTP 403" in forwarder.log(), 15, interval=0.2,
                   message="the gateway refusing the forwarder's report")
        assert model.state.requests == []
    assert _messages_in_flight(ENDPOINT_ID) == (0, 1)  # comes back after its visibility timeout
    assert task_results.read_task(client, "task-wrong-token")["status"] == "PENDING"
    assert "Traceback" not in forwarder.log()
