"""Endpoint queues: SQS against moto, and the Redis-list backend against real Redis (db 15)."""
import json
import time

import pytest
import redis as redis_lib

from llmengine_site.infra import aws as aws_adapter
from llmengine_site.infra import queues
from llmengine_site.errors import InfraError
from llmengine_site.names import endpoint_queue_name

ENDPOINT_ID = "end_abc123"


@pytest.fixture
def sqs_backend(aws, settings):
    settings.LLME_QUEUE_BACKEND = "sqs"
    queues.SQS._urls.clear()
    return aws


@pytest.fixture
def redis_backend(settings):
    settings.LLME_QUEUE_BACKEND = "redis"
    settings.LLME_QUEUE_REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    client = redis_lib.Redis.from_url(settings.LLME_QUEUE_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(params=["sqs", "redis"])
def any_backend(request):
    """Runs a test once per backend: both must honour the same contract."""
    return request.getfixturevalue(f"{request.param}_backend")


def sqs_attributes(url: str) -> dict:
    return aws_adapter.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_sqs_queue_is_named_after_the_endpoint_and_has_the_default_visibility(sqs_backend):
    url = queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    assert url.endswith("/llm-engine-endpoint-id-end_abc123")
    assert sqs_attributes(url)["VisibilityTimeout"] == "43200"


def test_sqs_queue_policy_allows_the_account_on_the_queue(sqs_backend):
    url = queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    statement = json.loads(sqs_attributes(url)["Policy"])["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == "sqs:*"
    assert statement["Resource"] == "arn:aws:sqs:us-west-2:123456789012:llm-engine-endpoint-id-end_abc123"


def test_sqs_queue_is_tagged_with_the_endpoint(sqs_backend):
    url = queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    tags = aws_adapter.client("sqs").list_queue_tags(QueueUrl=url)["Tags"]
    assert tags == {"llm-engine-endpoint-id": ENDPOINT_ID, "llm-engine-endpoint-name": "llama-2-7b",
                    "llm-engine-owner": "team-1"}


def test_sqs_templates_come_from_settings(sqs_backend, settings):
    settings.LLME_SQS_TAGS_TEMPLATE = '{"team": "${owner}", "name": "${endpoint_name}"}'

    url = queues.ensure_queue(ENDPOINT_ID, 'quote"name', "team-1")

    assert aws_adapter.client("sqs").list_queue_tags(QueueUrl=url)["Tags"] == {"team": "team-1", "name": 'quote"name'}


def test_sqs_ensure_twice_keeps_one_queue_and_applies_the_new_visibility(sqs_backend):
    first = queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    second = queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1", visibility_timeout=600)

    assert first == second
    assert queues.list_queues() == ["llm-engine-endpoint-id-end_abc123"]
    assert sqs_attributes(second)["VisibilityTimeout"] == "600"


def test_redis_ensure_returns_the_queue_name(redis_backend):
    assert queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1") == endpoint_queue_name(ENDPOINT_ID)


def test_ensure_twice_is_idempotent(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    queues.send_message(ENDPOINT_ID, "kept")
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    assert queues.list_queues() == [endpoint_queue_name(ENDPOINT_ID)]
    assert queues.queue_depth(ENDPOINT_ID) == 1


def test_depth_counts_sent_messages(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    for body in ("a", "b", "c"):
        queues.send_message(ENDPOINT_ID, body)

    assert queues.queue_depth(ENDPOINT_ID) == 3


def test_depth_of_a_missing_queue_is_none(any_backend):
    assert queues.queue_depth("end_missing") is None


def test_delete_returns_true_then_false_when_already_gone(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    assert queues.delete_queue(ENDPOINT_ID) is True
    assert queues.delete_queue(ENDPOINT_ID) is False
    assert queues.list_queues() == []


def test_list_queues_filters_by_prefix(any_backend):
    queues.ensure_queue("end_one", "one", "team-1")
    queues.ensure_queue("end_two", "two", "team-1")

    assert queues.list_queues() == ["llm-engine-endpoint-id-end_one", "llm-engine-endpoint-id-end_two"]
    assert queues.list_queues("llm-engine-endpoint-id-end_t") == ["llm-engine-endpoint-id-end_two"]


def test_received_message_is_hidden_until_deleted(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    message_id = queues.send_message(ENDPOINT_ID, '{"prompt": "hi"}')

    [message] = queues.receive_messages(ENDPOINT_ID)
    assert (message.id, message.body, message.receive_count) == (message_id, '{"prompt": "hi"}', 1)
    assert queues.receive_messages(ENDPOINT_ID) == []
    assert queues.queue_depth(ENDPOINT_ID) == 0

    queues.delete_message(ENDPOINT_ID, message.receipt)
    queues.delete_message(ENDPOINT_ID, message.receipt)  # idempotent
    assert queues.queue_depth(ENDPOINT_ID) == 0


def test_message_reappears_when_its_visibility_is_reset(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    queues.send_message(ENDPOINT_ID, "work")
    [first] = queues.receive_messages(ENDPOINT_ID)

    queues.change_visibility(ENDPOINT_ID, first.receipt, 0)

    [again] = queues.receive_messages(ENDPOINT_ID)
    assert again.body == "work"
    assert again.receive_count == 2
    assert again.receipt != first.receipt


def test_sqs_message_reappears_after_its_visibility_timeout(sqs_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    queues.send_message(ENDPOINT_ID, "work")
    queues.receive_messages(ENDPOINT_ID, visibility_timeout=1)

    time.sleep(1.3)

    assert [message.body for message in queues.receive_messages(ENDPOINT_ID, wait_seconds=1)] == ["work"]


def test_redis_message_reappears_after_its_visibility_timeout(redis_backend, monkeypatch):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    queues.send_message(ENDPOINT_ID, "work")
    queues.receive_messages(ENDPOINT_ID, visibility_timeout=60)
    assert queues.receive_messages(ENDPOINT_ID) == []

    later = time.time() + 61  # move the clock instead of sleeping: deadlines are wall-clock times
    monkeypatch.setattr(queues, "_now", lambda: later)

    assert queues.queue_depth(ENDPOINT_ID) == 1
    assert [message.body for message in queues.receive_messages(ENDPOINT_ID)] == ["work"]


def test_long_poll_returns_empty_after_waiting(any_backend):
    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    started = time.monotonic()

    assert queues.receive_messages(ENDPOINT_ID, wait_seconds=1) == []
    assert time.monotonic() - started >= 0.9


def test_sending_to_a_missing_queue_is_a_permanent_error(any_backend):
    with pytest.raises(InfraError) as raised:
        queues.send_message("end_missing", "lost")

    assert raised.value.transient is False
    assert raised.value.status == 404


def test_unreachable_redis_is_transient(redis_backend, settings):
    settings.LLME_QUEUE_REDIS_URL = "redis://127.0.0.1:9/0"

    with pytest.raises(InfraError) as raised:
        queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")

    assert raised.value.transient is True


def test_unreachable_sqs_is_transient(sqs_backend, monkeypatch, settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings.LLME_AWS_MAX_ATTEMPTS = 1
    aws_adapter.reset_clients()

    with pytest.raises(InfraError) as raised:
        queues.queue_depth(ENDPOINT_ID)

    assert raised.value.transient is True


def test_redis_pending_list_is_where_keda_looks(redis_backend):
    from llmengine_site.names import redis_queue_key

    queues.ensure_queue(ENDPOINT_ID, "llama-2-7b", "team-1")
    queues.send_message(ENDPOINT_ID, "work")

    assert redis_backend.llen(redis_queue_key(endpoint_queue_name(ENDPOINT_ID), "pending")) == 1
