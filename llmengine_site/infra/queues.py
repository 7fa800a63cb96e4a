"""Per-endpoint task queues of async endpoints: AWS SQS, or Redis lists without AWS.

`LLME_QUEUE_BACKEND` picks the backend (`sqs` in the chart, `redis` for `make run`); both
offer the same functions and the same at-least-once semantics: a received message is hidden
for its visibility timeout and comes back unless deleted before that.

Every function raises `InfraError` (`transient=True` for throttling, 5xx and connection
problems) and nothing else. Queue names come from `names.endpoint_queue_name`.
"""
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass

import botocore.exceptions
import redis
from django.conf import settings

from llmengine_site.errors import InfraError
from llmengine_site.infra import aws
from llmengine_site.infra.sqs_templates import DEFAULT_POLICY_TEMPLATE, DEFAULT_TAGS_TEMPLATE, render_template
from llmengine_site.names import ENDPOINT_PREFIX, endpoint_queue_name, redis_queue_key

DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 43200  # 12 h, as upstream: long generations must not reappear
MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
# SQS refuses to recreate a name for 60 s after deleting it; waiting fixes that.
TRANSIENT_QUEUE_CODES = {"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently"}


@dataclass(frozen=True)
class QueueMessage:
    id: str
    body: str
    receipt: str  # pass to delete_message / change_visibility; changes on every receive
    receive_count: int


# ----------------------------------------------------------------------------- public interface
def ensure_queue(endpoint_id: str, endpoint_name: str, owner: str,
                 visibility_timeout: int | None = None) -> str:
    """Create the endpoint's queue or bring an existing one up to date (visibility timeout,
    policy, tags). Idempotent. Returns the queue URL (SQS) or name (Redis)."""
    return _backend().ensure_queue(endpoint_id, endpoint_name, owner,
                                   visibility_timeout or DEFAULT_VISIBILITY_TIMEOUT_SECONDS)


def delete_queue(endpoint_id: str) -> bool:
    """Delete the endpoint's queue and its messages. Returns False when it was already gone."""
    return _backend().delete_queue(endpoint_id)


def queue_depth(endpoint_id: str) -> int | None:
    """Messages waiting to be received (in-flight ones excluded); None when there is no queue."""
    return _backend().queue_depth(endpoint_id)


def queue_url(endpoint_id: str) -> str | None:
    """The existing queue's URL (SQS), None when it does not exist or on the Redis backend."""
    return _backend().queue_url(endpoint_id)


def list_queues(prefix: str = ENDPOINT_PREFIX) -> list[str]:
    """Names of the existing queues starting with `prefix`, sorted (to prune orphans)."""
    return _backend().list_queues(prefix)


def send_message(endpoint_id: str, body: str) -> str:
    """Enqueue `body`; returns the message id. A missing queue is a permanent `InfraError`."""
    return _backend().send_message(endpoint_id, body)


def receive_messages(endpoint_id: str, max_messages: int = 1, wait_seconds: int = 0,
                     visibility_timeout: int | None = None) -> list[QueueMessage]:
    """Up to `max_messages` messages, hidden from other receivers for `visibility_timeout`
    (default: the queue's). Waits up to `wait_seconds` for the first one."""
    return _backend().receive_messages(endpoint_id, max_messages, wait_seconds, visibility_timeout)


def delete_message(endpoint_id: str, receipt: str) -> None:
    """Acknowledge a received message. Idempotent."""
    _backend().delete_message(endpoint_id, receipt)


def change_visibility(endpoint_id: str, receipt: str, timeout_seconds: int) -> None:
    """Hide a received message for `timeout_seconds` from now (0: make it visible again)."""
    _backend().change_visibility(endpoint_id, receipt, timeout_seconds)


def _now() -> float:
    """Wall-clock seconds: Redis visibility deadlines must agree across processes and hosts."""
    return time.time()


def _backend():
    return SQS if settings.LLME_QUEUE_BACKEND == "sqs" else REDIS


# ----------------------------------------------------------------------------- SQS
class SqsQueues:
    """SQS queues. Queue URLs of the message path are cached per process."""

    def __init__(self):
        self._urls: dict[str, str] = {}

    def ensure_queue(self, endpoint_id, endpoint_name, owner, visibility_timeout) -> str:
        name = endpoint_queue_name(endpoint_id)
        values = self._template_values(name, endpoint_id=endpoint_id, endpoint_name=endpoint_name, owner=owner)
        policy = render_template(settings.LLME_SQS_POLICY_TEMPLATE or DEFAULT_POLICY_TEMPLATE,
                                 values, "LLME_SQS_POLICY_TEMPLATE")
        tags = render_template(settings.LLME_SQS_TAGS_TEMPLATE or DEFAULT_TAGS_TEMPLATE,
                               values, "LLME_SQS_TAGS_TEMPLATE")
        tags = {str(key): str(value) for key, value in tags.items()}
        attributes = {"VisibilityTimeout": str(visibility_timeout), "Policy": json.dumps(policy)}
        sqs = aws.client("sqs")
        with self._errors(f"create SQS queue {name}"):
            url = self._lookup(name)
            if url is None:
                url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
            else:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
                sqs.tag_queue(QueueUrl=url, Tags=tags)
        self._urls[name] = url
        return url

    def delete_queue(self, endpoint_id) -> bool:
        name = endpoint_queue_name(endpoint_id)
        self._urls.pop(name, None)
        with self._errors(f"delete SQS queue {name}"):
            url = self._lookup(name)
            if url is None:
                return False
            try:
                aws.client("sqs").delete_queue(QueueUrl=url)
            except botocore.exceptions.ClientError as error:
                if aws.error_code(error) in MISSING_QUEUE_CODES:
                    return False
                raise
        return True

    def queue_depth(self, endpoint_id) -> int | None:
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"read depth of SQS queue {name}"):
            url = self._lookup(name)
            if url is None:
                return None
            attributes = aws.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def queue_url(self, endpoint_id) -> str | None:
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"look up SQS queue {name}"):
            return self._lookup(name)

    def list_queues(self, prefix) -> list[str]:
        names = []
        with self._errors("list SQS queues"):
            for page in aws.client("sqs").get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
                names += [url.rsplit("/", 1)[-1] for url in page.get("QueueUrls", [])]
        return sorted(names)

    def send_message(self, endpoint_id, body) -> str:
        with self._message_call(endpoint_id, "send to") as url:
            return aws.client("sqs").send_message(QueueUrl=url, MessageBody=body)["MessageId"]

    def receive_messages(self, endpoint_id, max_messages, wait_seconds, visibility_timeout):
        options = {"MaxNumberOfMessages": max_messages, "WaitTimeSeconds": wait_seconds,
                   "MessageSystemAttributeNames": ["ApproximateReceiveCount"]}
        if visibility_timeout is not None:
            options["VisibilityTimeout"] = visibility_timeout
        with self._message_call(endpoint_id, "receive from") as url:
            response = aws.client("sqs").receive_message(QueueUrl=url, **options)
        return [QueueMessage(message["MessageId"], message["Body"], message["ReceiptHandle"],
                             int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)))
                for message in response.get("Messages", [])]

    def delete_message(self, endpoint_id, receipt) -> None:
        with self._message_call(endpoint_id, "delete a message from") as url:
            aws.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=receipt)

    def change_visibility(self, endpoint_id, receipt, timeout_seconds) -> None:
        with self._message_call(endpoint_id, "change visibility in") as url:
            aws.client("sqs").change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=timeout_seconds)

    # -- helpers
    @staticmethod
    def _template_values(name: str, **values) -> dict[str, str]:
        region, account = settings.LLME_AWS_REGION, settings.LLME_AWS_ACCOUNT_ID
        return {"queue_name": name, "queue_arn": f"arn:aws:sqs:{region}:{account}:{name}",
                "region": region, "account_id": account, **values}

    @staticmethod
    def _lookup(name: str) -> str | None:
        try:
            return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        except botocore.exceptions.ClientError as error:
            if aws.error_code(error) in MISSING_QUEUE_CODES:
                return None
            raise

    @contextlib.contextmanager
    def _errors(self, action: str):
        try:
            yield
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            translated = aws.translate(error, action)
            code = aws.error_code(error)
            if code in TRANSIENT_QUEUE_CODES:
                translated.transient = True
            elif code in MISSING_QUEUE_CODES:
                translated.transient, translated.status = False, 404
            raise translated from error

    @contextlib.contextmanager
    def _message_call(self, endpoint_id: str, verb: str):
        """Yields the cached queue URL; a vanished queue is evicted and reported as permanent."""
        name = endpoint_queue_name(endpoint_id)
        action = f"{verb} SQS queue {name}"
        try:
            with self._errors(action):
                url = self._urls.get(name) or self._lookup(name)
            if url is None:
                raise InfraError(f"{action} failed: the queue does not exist", transient=False, status=404)
            self._urls[name] = url
            with self._errors(action):
                yield url
        except InfraError as error:
            if error.status == 404:
                self._urls.pop(name, None)  # deleted behind our back: look it up again next time
            raise


# ----------------------------------------------------------------------------- Redis
# Layout per queue `<name>` (all keys prefixed `llme:queue:<name>:`):
#   meta      hash: endpoint_id, endpoint_name, owner, visibility_timeout
#   pending   list of message ids, pushed left, popped right (FIFO)
#   inflight  sorted set: receipt -> visibility deadline (unix seconds)
#   messages  hash: id -> body;   counts  hash: id -> times received
# `llme:queues` is the set of queue names. Received messages wait in `inflight`; a receive first
# moves receipts whose deadline passed back to `pending`, which is how visibility expires.
QUEUES_KEY = "llme:queues"
RECEIVE_SCRIPT = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, receipt in ipairs(expired) do
  redis.call('ZREM', KEYS[2], receipt)
  redis.call('RPUSH', KEYS[1], string.match(receipt, '^[^:]+'))
end
local received = {}
for i = 1, tonumber(ARGV[3]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then break end
  local body = redis.call('HGET', KEYS[3], id)
  if body then
    local count = redis.call('HINCRBY', KEYS[4], id, 1)
    local receipt = id .. ':' .. ARGV[4] .. ':' .. i
    redis.call('ZADD', KEYS[2], ARGV[2], receipt)
    table.insert(received, {id, body, receipt, count})
  end
end
return received
"""


class RedisQueues:
    """Queues as Redis lists, for installs without AWS. Same guarantees as SQS (at least once,
    visibility timeout) at small scale; long polling is a sleep loop."""

    def __init__(self):
        self._clients: dict[str, redis.Redis] = {}
        self._lock = threading.Lock()

    def ensure_queue(self, endpoint_id, endpoint_name, owner, visibility_timeout) -> str:
        name = endpoint_queue_name(endpoint_id)
        meta = {"endpoint_id": endpoint_id, "endpoint_name": endpoint_name, "owner": owner,
                "visibility_timeout": str(visibility_timeout)}
        with self._errors(f"create Redis queue {name}"):
            pipeline = self._redis().pipeline()
            pipeline.hset(self._key(name, "meta"), mapping=meta)
            pipeline.sadd(QUEUES_KEY, name)
            pipeline.execute()
        return name

    def delete_queue(self, endpoint_id) -> bool:
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"delete Redis queue {name}"):
            pipeline = self._redis().pipeline()
            pipeline.srem(QUEUES_KEY, name)
            pipeline.delete(*(self._key(name, part) for part in ("meta", "pending", "inflight", "messages", "counts")))
            removed, _ = pipeline.execute()
        return bool(removed)

    def queue_depth(self, endpoint_id) -> int | None:
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"read depth of Redis queue {name}"):
            client = self._redis()
            if not client.sismember(QUEUES_KEY, name):
                return None
            # Receipts past their deadline are visible again, as in SQS.
            return client.llen(self._key(name, "pending")) + client.zcount(self._key(name, "inflight"), "-inf", _now())

    def queue_url(self, endpoint_id) -> str | None:
        return None  # Redis queues are known by name only

    def list_queues(self, prefix) -> list[str]:
        with self._errors("list Redis queues"):
            return sorted(name for name in self._redis().smembers(QUEUES_KEY) if name.startswith(prefix))

    def send_message(self, endpoint_id, body) -> str:
        name = self._existing(endpoint_id, "send to")
        message_id = uuid.uuid4().hex
        with self._errors(f"send to Redis queue {name}"):
            pipeline = self._redis().pipeline()
            pipeline.hset(self._key(name, "messages"), message_id, body)
            pipeline.lpush(self._key(name, "pending"), message_id)
            pipeline.execute()
        return message_id

    def receive_messages(self, endpoint_id, max_messages, wait_seconds, visibility_timeout):
        name = self._existing(endpoint_id, "receive from")
        keys = [self._key(name, part) for part in ("pending", "inflight", "messages", "counts")]
        deadline = time.monotonic() + wait_seconds
        with self._errors(f"receive from Redis queue {name}"):
            client = self._redis()
            if visibility_timeout is None:
                visibility_timeout = int(client.hget(self._key(name, "meta"), "visibility_timeout")
                                         or DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
            while True:
                now = _now()
                received = client.eval(RECEIVE_SCRIPT, len(keys), *keys, now, now + visibility_timeout,
                                       max_messages, uuid.uuid4().hex)
                if received or time.monotonic() >= deadline:
                    return [QueueMessage(id, body, receipt, int(count)) for id, body, receipt, count in received]
                time.sleep(0.2)

    def delete_message(self, endpoint_id, receipt) -> None:
        name = endpoint_queue_name(endpoint_id)
        message_id = receipt.split(":", 1)[0]
        with self._errors(f"delete a message from Redis queue {name}"):
            pipeline = self._redis().pipeline()
            pipeline.zrem(self._key(name, "inflight"), receipt)
            pipeline.lrem(self._key(name, "pending"), 0, message_id)
            pipeline.hdel(self._key(name, "messages"), message_id)
            pipeline.hdel(self._key(name, "counts"), message_id)
            pipeline.execute()

    def change_visibility(self, endpoint_id, receipt, timeout_seconds) -> None:
        """Only a receipt still in flight is affected (an expired one is already visible)."""
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"change visibility in Redis queue {name}"):
            self._redis().zadd(self._key(name, "inflight"), {receipt: _now() + timeout_seconds}, xx=True)

    # -- helpers
    @staticmethod
    def _key(name: str, part: str) -> str:
        return redis_queue_key(name, part)

    def _existing(self, endpoint_id: str, verb: str) -> str:
        name = endpoint_queue_name(endpoint_id)
        with self._errors(f"{verb} Redis queue {name}"):
            # The queue's own key, not the `llme:queues` set: an endpoint's Redis user may name
            # only its own keys (endpoints/redis_acl.py).
            exists = self._redis().exists(self._key(name, "meta"))
        if not exists:
            raise InfraError(f"{verb} Redis queue {name} failed: the queue does not exist",
                             transient=False, status=404)
        return name

    def _redis(self) -> redis.Redis:
        url = settings.LLME_QUEUE_REDIS_URL or settings.REDIS_URL
        if not url:
            raise InfraError("LLME_QUEUE_BACKEND=redis needs REDIS_URL (or LLME_QUEUE_REDIS_URL) "
                             "to be set", transient=False)
        with self._lock:
            if url not in self._clients:
                self._clients[url] = redis.Redis.from_url(
                    url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
                    health_check_interval=30)
            return self._clients[url]

    @contextlib.contextmanager
    def _errors(self, action: str):
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise InfraError(f"{action} failed: cannot reach Redis ({error})", transient=True) from error
        except redis.exceptions.RedisError as error:
            raise InfraError(f"{action} failed: {error}", transient=False) from error


SQS = SqsQueues()
REDIS = RedisQueues()
