"""The async task results store shared by the gateway and the forwarder (real Redis)."""
import os

import pytest
import redis

from endpoints import task_results
from endpoints.task_results import S3ResultStore, read_task, record_result, record_started, record_submitted
from tests.forwarder.conftest import wait_until

END = "end_results0000000000000001"


@pytest.fixture(params=[True, False], ids=["decoded", "bytes"])
def client(request):
    """Both client flavours the callers use: the forwarder's (bytes) and a decoding one."""
    return redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=request.param)


class MemoryStore:
    def __init__(self):
        self.objects = {}

    def put(self, task_id, data):
        self.objects[f"mem://{task_id}"] = data
        return f"mem://{task_id}"

    def get(self, location):
        return self.objects.get(location)


def test_a_task_goes_from_pending_to_started_to_success_keeping_its_owner(client):
    record_submitted(client, "t1", "team-a", ttl_seconds=60, endpoint_id=END)
    assert read_task(client, "t1") == {"task_id": "t1", "owner": "team-a", "status": "PENDING", "result": None,
                                       "traceback": None, "status_code": None}

    record_started(client, END, "t1")
    assert read_task(client, "t1")["status"] == "STARTED"

    record_result(client, END, "t1", status="SUCCESS", result={"y": [1, "a"]}, status_code=200, ttl_seconds=600)
    assert read_task(client, "t1") == {"task_id": "t1", "owner": "team-a", "status": "SUCCESS",
                                       "result": {"y": [1, "a"]}, "traceback": None, "status_code": 200}
    assert 590 < client.ttl(task_results.result_key(END, "t1")) <= 600


def test_a_failure_keeps_its_traceback_and_status_code(client):
    record_submitted(client, "t2", "team-a", ttl_seconds=60, endpoint_id=END)

    record_result(client, END, "t2", status="FAILURE", result="boom", traceback="Traceback...", status_code=500,
                  ttl_seconds=60)

    task = read_task(client, "t2")
    assert (task["status"], task["result"], task["traceback"], task["status_code"]) == (
        "FAILURE", "boom", "Traceback...", 500)


def test_unknown_and_expired_tasks_read_as_none(client):
    assert read_task(client, "never-submitted") is None
    record_submitted(client, "t3", "team-a", ttl_seconds=1, endpoint_id=END)
    client.pexpire(task_results.task_key("t3"), 1)

    wait_until(lambda: read_task(client, "t3") is None, 2, message="the expired task to read as None")


def test_a_late_start_does_not_undo_a_stored_result(client):
    record_submitted(client, "t4", "team-a", ttl_seconds=60, endpoint_id=END)
    record_result(client, END, "t4", status="SUCCESS", result=1, ttl_seconds=60)

    record_started(client, END, "t4")

    assert read_task(client, "t4")["status"] == "SUCCESS"


def test_a_task_started_without_a_submit_record_still_expires_and_reads_as_none(client):
    record_started(client, END, "t5")

    assert read_task(client, "t5") is None
    assert 0 < client.ttl(task_results.result_key(END, "t5")) <= task_results.ORPHAN_TTL_SECONDS


def test_large_results_go_to_the_large_result_store_and_come_back(client, settings):
    settings.LLME_ASYNC_RESULT_INLINE_MAX_BYTES = 100
    store = MemoryStore()
    record_submitted(client, "t6", "team-a", ttl_seconds=60, endpoint_id=END)

    record_result(client, END, "t6", status="SUCCESS", result={"text": "x" * 200}, ttl_seconds=60,
                  large_result_store=store)

    assert list(store.objects) == ["mem://t6"]
    assert client.hget(task_results.result_key(END, "t6"), "result") is None
    assert read_task(client, "t6", large_result_store=store)["result"] == {"text": "x" * 200}
    assert read_task(client, "t6", large_result_store=store)["owner"] == "team-a"


def test_without_a_bucket_large_results_stay_in_redis(client, settings):
    settings.LLME_ASYNC_RESULT_INLINE_MAX_BYTES = 100
    settings.LLME_S3_BUCKET = ""
    record_submitted(client, "t7", "team-a", ttl_seconds=60, endpoint_id=END)

    record_result(client, END, "t7", status="SUCCESS", result="x" * 1000, ttl_seconds=60)

    assert read_task(client, "t7")["result"] == "x" * 1000


def test_a_result_whose_s3_object_is_gone_reads_as_unavailable(aws, client):
    from llmengine_site.infra import aws as aws_adapter

    aws_adapter.client("s3").create_bucket(Bucket="results", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    store = S3ResultStore("results")
    location = store.put("t8", b'{"a": 1}')
    assert store.get(location) == b'{"a": 1}'
    record_submitted(client, "t8", "team-a", ttl_seconds=60, endpoint_id=END)
    client.hset(task_results.result_key(END, "t8"), mapping={"status": "SUCCESS",
                                                             "result_location": "s3://results/async-results/missing.json"})

    task = read_task(client, "t8")

    assert task["result"] is None and "no longer available" in task["traceback"]


def test_the_owner_comes_from_the_gateway_record_whatever_the_result_hash_says(client):
    record_submitted(client, "t9", "team-a", ttl_seconds=60, endpoint_id=END)
    client.hset(task_results.result_key(END, "t9"), mapping={"owner": "team-b", "status": "SUCCESS", "result": "1"})

    assert read_task(client, "t9")["owner"] == "team-a"


def test_a_task_never_run_reads_as_none_once_past_its_submit_ttl(client):
    record_submitted(client, "t10", "team-a", ttl_seconds=1, endpoint_id=END)
    assert read_task(client, "t10")["status"] == "PENDING"

    wait_until(lambda: read_task(client, "t10") is None, 3, message="the unrun task to read as None")
    assert client.exists(task_results.task_key("t10"))  # kept for a result stored late


def test_a_result_stored_late_is_still_read_after_the_submit_ttl(client):
    record_submitted(client, "t11", "team-a", ttl_seconds=1, endpoint_id=END)
    record_result(client, END, "t11", status="FAILURE", result="task expired before it ran", ttl_seconds=60)

    wait_until(lambda: client.ttl(task_results.task_key("t11")) <= 1, 3, message="the submit TTL to pass")
    assert read_task(client, "t11")["status"] == "FAILURE"
