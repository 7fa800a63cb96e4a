"""The forwarder in queue mode: tasks from the endpoint's queue (real Redis, or SQS on moto) run
against a local model server, and their outcome lands in the results store the gateway reads."""
import base64
import json
import os
import signal
import time
import uuid

import httpx
import pytest
import redis

from endpoints import report_tokens, task_results
from llmengine_site.infra import aws as aws_adapter, queues
from llmengine_site.names import redis_queue_key
from tests.fakes.model_servers import ModelServer
from tests.fakes.post_server import PostServer
from tests.forwarder.conftest import ENDPOINT_ID, endpoint_spec, wait_until

QUEUE_NAME = f"llm-engine-endpoint-id-{ENDPOINT_ID}"
FAST_POLL = ("--poll-wait-seconds", "1")


@pytest.fixture
def results():
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


@pytest.fixture
def redis_queue(settings):
    settings.LLME_QUEUE_BACKEND = "redis"
    queues.ensure_queue(ENDPOINT_ID, "forwarder-test", "team-a", 600)


@pytest.fixture
def echo():
    with ModelServer("echo") as server:
        yield server


def submit(results, payload: dict, *, owner: str = "team-a", expires_in: float = 600, task_id: str | None = None) -> str:
    """What the gateway does on POST /v1/async-tasks."""
    task_id = task_id or f"task-{uuid.uuid4().hex}"
    task_results.record_submitted(results, task_id, owner, 600, ENDPOINT_ID)
    message = {"task_id": task_id, "owner": owner, "submitted_at": "2026-01-01T00:00:00+00:00",
               "expires_at": time.time() + expires_in,
               "payload": {"args": None, "url": None, "callback_url": None, "callback_auth": None,
                           "return_pickled": False, "destination_path": None, **payload}}
    queues.send_message(ENDPOINT_ID, json.dumps(message))
    return task_id


def finished(results, task_id: str, timeout: float = 20) -> dict:
    def final():
        task = task_results.read_task(results, task_id)
        return task if task and task["status"] in task_results.FINAL_STATUSES else None

    return wait_until(final, timeout, interval=0.1, message=f"task {task_id} to finish")


def redis_queue_is_empty(results) -> bool:
    return results.hlen(redis_queue_key(QUEUE_NAME, "messages")) == 0


def test_a_task_runs_once_and_its_result_is_stored_for_its_owner(start_forwarder, redis_queue, results, echo):
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)

    task_id = submit(results, {"args": {"x": 1}}, owner="team-a")

    task = finished(results, task_id)
    assert task == {"task_id": task_id, "owner": "team-a", "status": "SUCCESS", "result": {"echo": {"x": 1}},
                    "traceback": None, "status_code": 200}
    assert echo.state.requests == [("/predict", {"x": 1})]
    wait_until(lambda: redis_queue_is_empty(results), 5, message="the message to be deleted")
    assert 0 < results.ttl(task_results.result_key(ENDPOINT_ID, task_id)) <= 600


def test_destination_path_picks_the_model_route(start_forwarder, redis_queue, results):
    with ModelServer("vllm") as vllm:
        start_forwarder(endpoint_spec(endpoint_type="async"), vllm.url, *FAST_POLL)

        task_id = submit(results, {"args": {"model": "m", "prompt": "hi", "max_tokens": 2},
                                   "destination_path": "/v1/completions"})

        task = finished(results, task_id)
    assert task["status"] == "SUCCESS" and task["result"]["choices"][0]["text"] == " w0 w1"


def test_an_upstream_500_is_recorded_as_failure_with_its_status_and_text(start_forwarder, redis_queue, results, echo):
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)
    echo.state.fail_next(500)

    task = finished(results, submit(results, {"args": {"x": 1}}))

    assert task["status"] == "FAILURE" and task["status_code"] == 500
    assert "injected 500" in task["traceback"] and "HTTP 500" in task["result"]
    assert task["owner"] == "team-a"
    assert len(echo.state.requests) == 1  # not retried
    wait_until(lambda: redis_queue_is_empty(results), 5, message="the message to be deleted")


def test_an_expired_task_is_recorded_as_failure_without_running(start_forwarder, redis_queue, results, echo):
    task_id = submit(results, {"args": {"x": 1}}, expires_in=-1)
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)

    task = finished(results, task_id)

    assert task["status"] == "FAILURE" and task["result"] == "task expired before it ran"
    assert echo.state.requests == []


def test_a_message_delivered_more_than_three_times_is_failed_and_deleted(start_forwarder, redis_queue, results, echo):
    task_id = submit(results, {"args": {"x": 1}})
    for _ in range(3):  # three workers took it and died before finishing
        assert queues.receive_messages(ENDPOINT_ID, visibility_timeout=0)
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)

    task = finished(results, task_id)

    assert task["status"] == "FAILURE" and "4 times" in task["result"]
    assert echo.state.requests == []
    wait_until(lambda: redis_queue_is_empty(results), 5, message="the message to be deleted")


def test_a_task_that_already_has_its_result_is_not_run_again(start_forwarder, redis_queue, results, echo):
    task_id = submit(results, {"args": {"x": 1}})
    task_results.record_result(results, ENDPOINT_ID, task_id, status="SUCCESS", result={"done": True}, ttl_seconds=600)
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)

    wait_until(lambda: redis_queue_is_empty(results), 10, message="the redelivered message to be dropped")

    assert task_results.read_task(results, task_id)["result"] == {"done": True}
    assert echo.state.requests == []


def test_a_slow_task_keeps_its_message_hidden_until_it_finishes(start_forwarder, redis_queue, results):
    with ModelServer("echo", delay=5.0) as slow:
        # Visibility of 2 s: without extensions a second worker slot would receive it again.
        spec = endpoint_spec(endpoint_type="async", queue_visibility_timeout_seconds=2)
        start_forwarder(spec, slow.url, *FAST_POLL)

        task = finished(results, submit(results, {"args": {"x": 1}}), timeout=30)

    assert task["status"] == "SUCCESS"
    assert slow.state.requests == [("/predict", {"x": 1})]


def test_the_callback_gets_the_outcome_with_basic_auth(start_forwarder, redis_queue, results, echo):
    with CallbackReceiver() as receiver:
        start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)
        task_id = submit(results, {"args": {"x": 1}, "callback_url": receiver.url + "/done",
                                   "callback_auth": {"kind": "basic", "username": "hook", "password": "s3cret"}})
        finished(results, task_id)
        wait_until(lambda: receiver.calls, 10, message="the callback")

    path, headers, body = receiver.calls[0]
    assert path == "/done"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"hook:s3cret").decode()
    assert body == {"task_id": task_id, "status": "SUCCESS", "result": {"echo": {"x": 1}}}


def test_the_endpoint_default_callback_is_used_when_the_task_has_none(start_forwarder, redis_queue, results, echo):
    with CallbackReceiver() as receiver:
        spec = endpoint_spec(endpoint_type="async", default_callback_url=receiver.url + "/default")
        start_forwarder(spec, echo.url, *FAST_POLL)
        task_id = submit(results, {"args": {"x": 1}})
        wait_until(lambda: receiver.calls, 20, message="the callback")

    assert receiver.calls[0][0] == "/default" and receiver.calls[0][2]["task_id"] == task_id


def test_queue_mode_has_probes_that_follow_the_model_server(start_forwarder, redis_queue, echo):
    forwarder = start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL)
    assert httpx.get(forwarder.url + "/readyz").status_code == 200
    echo.state.healthy = False
    wait_until(lambda: httpx.get(forwarder.url + "/readyz").status_code == 503, 5, message="/readyz 503")
    assert httpx.get(forwarder.url + "/healthz").status_code == 200


def test_a_task_goes_end_to_end_through_sqs(start_forwarder, aws, settings, results, echo, gateway):
    settings.LLME_QUEUE_BACKEND = "sqs"
    queues.ensure_queue(ENDPOINT_ID, "forwarder-test", "team-a", 600)
    # On SQS the forwarder has no Redis at all: it reports to the gateway with its token.
    start_forwarder(endpoint_spec(endpoint_type="async", queue_backend="sqs"), echo.url, *FAST_POLL,
                    env={"REDIS_URL": "", "LLME_GATEWAY_URL": gateway,
                         report_tokens.ENV: report_tokens.token(ENDPOINT_ID)})

    done = submit(results, {"args": {"x": 1}}, owner="team-b")
    assert finished(results, done) == {
        "task_id": done, "owner": "team-b", "status": "SUCCESS", "result": {"echo": {"x": 1}},
        "traceback": None, "status_code": 200}

    echo.state.fail_next(500)
    failed = submit(results, {"args": {"x": 2}})
    assert finished(results, failed)["status"] == "FAILURE"
    wait_until(lambda: queues.queue_depth(ENDPOINT_ID) == 0
               and not queues.receive_messages(ENDPOINT_ID, visibility_timeout=0), 10,
               message="both messages to be deleted")


def test_a_large_result_is_stored_in_s3_and_read_back(start_forwarder, aws, redis_queue, results, echo):
    aws_s3 = aws_adapter.client("s3")
    aws_s3.create_bucket(Bucket="llme-results", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    start_forwarder(endpoint_spec(endpoint_type="async"), echo.url, *FAST_POLL,
                    env={"LLME_S3_BUCKET": "llme-results", "LLME_ASYNC_RESULT_INLINE_MAX_BYTES": "1024"})
    args = {"text": "x" * 5000}

    task_id = submit(results, {"args": args})

    assert finished(results, task_id)["result"] == {"echo": args}
    stored = results.hgetall(task_results.result_key(ENDPOINT_ID, task_id))
    assert "result" not in stored
    assert stored["result_location"] == f"s3://llme-results/async-results/{task_id}.json"
    body = aws_s3.get_object(Bucket="llme-results", Key=f"async-results/{task_id}.json")["Body"].read()
    assert json.loads(body) == {"echo": args}


class CallbackReceiver(PostServer):
    """An HTTP server recording `(path, headers, JSON body)` of each POST."""

    def __init__(self):
        self.calls = []

    def answer(self, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        self.calls.append((path, headers, json.loads(body)))
        return 200, b""


def test_sigterm_lets_the_running_task_finish(start_forwarder, redis_queue, results):
    with ModelServer("echo", delay=2.0) as slow:
        forwarder = start_forwarder(endpoint_spec(endpoint_type="async"), slow.url, *FAST_POLL)
        task_id = submit(results, {"args": {"x": 1}})
        wait_until(lambda: slow.state.requests, 10, message="the task to reach the model server")

        forwarder.process.send_signal(signal.SIGTERM)
        forwarder.process.wait(20)

    assert task_results.read_task(results, task_id)["status"] == "SUCCESS"
    assert redis_queue_is_empty(results)
