"""Async task state in Redis, shared by the gateway (submits, reads) and the forwarder (runs).

Two hashes per task, so that an endpoint's forwarder only ever touches keys of its own endpoint
(its Redis user may not name any other key: docs/security.md#what-isolates-teams):

    TASK_KEY    `llme:task:<task_id>`, written by the gateway only (`record_submitted`):
                owner (the team that submitted it), endpoint_id, status PENDING, expires_at
    RESULT_KEY  `llme:result:<endpoint_id>:<task_id>`, written by the endpoint's forwarder:
                status (STARTED -> SUCCESS | FAILURE), result (JSON text, absent when it lives
                in S3), result_location (`s3://bucket/key` of a large result), traceback,
                status_code, updated_at

`read_task` merges them (the owner always from the gateway's hash).

Guarantees:
- The owner is never overwritten: only `record_submitted` writes it, in a key no forwarder may
  touch, so a worker cannot hand a task to another team, and `read_task` returns `owner=None`
  for a task nobody submitted (callers must treat that as not found).
- A finished task (SUCCESS/FAILURE) never goes back to STARTED: a message delivered again after
  its result was stored does not regress the state readers see.
- Every hash expires: the gateway's after twice the submit TTL (so it outlives a result stored
  late; a task with no result past its submit TTL reads as None), the result `ttl_seconds` from
  the moment it is stored.
- Results larger than `LLME_ASYNC_RESULT_INLINE_MAX_BYTES` (256 KiB) go to S3 under
  `async-results/<task_id>.json` when `LLME_S3_BUCKET` is set; `read_task` loads them back.
  Without a bucket they stay in Redis whatever their size.

Works with clients created with or without `decode_responses`. No database access; the
settings are Django's (the forwarder sets `DJANGO_SETTINGS_MODULE` from its flags first).
"""
import json
import time

import redis
from django.conf import settings

from llmengine_site.infra import aws

TASK_KEY = "llme:task:{task_id}"
RESULT_KEY = "llme:result:{endpoint_id}:{task_id}"
RESULTS_PREFIX = "async-results/"
# A task started without a submit record (Redis lost it) must still expire some day.
ORPHAN_TTL_SECONDS = 24 * 3600

PENDING, STARTED, SUCCESS, FAILURE, UNDEFINED = "PENDING", "STARTED", "SUCCESS", "FAILURE", "UNDEFINED"
STATUSES = (PENDING, STARTED, SUCCESS, FAILURE, UNDEFINED)
FINAL_STATUSES = (SUCCESS, FAILURE)

# Atomic so that a late STARTED (redelivered message) cannot overwrite a stored result.
_START_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'SUCCESS' or status == 'FAILURE' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'STARTED', 'updated_at', ARGV[2])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 1
"""


def task_key(task_id: str) -> str:
    return TASK_KEY.format(task_id=task_id)


def result_key(endpoint_id: str, task_id: str) -> str:
    return RESULT_KEY.format(endpoint_id=endpoint_id, task_id=task_id)


def endpoint_result_pattern(endpoint_id: str) -> str:
    """The glob of every result key of one endpoint (its Redis user's key permission)."""
    return RESULT_KEY.format(endpoint_id=endpoint_id, task_id="*")


def record_submitted(client: redis.Redis, task_id: str, owner: str, ttl_seconds: int, endpoint_id: str) -> None:
    """The gateway accepted the task for `endpoint_id`: PENDING, owned by `owner`, runnable for
    `ttl_seconds`."""
    ttl = max(int(ttl_seconds), 1)
    key = task_key(task_id)
    pipeline = client.pipeline()
    pipeline.hset(key, mapping={"owner": owner, "endpoint_id": endpoint_id, "status": PENDING,
                                "updated_at": _now(), "expires_at": f"{time.time() + ttl:.3f}"})
    pipeline.expire(key, 2 * ttl)
    pipeline.execute()


def task_endpoint(client: redis.Redis, task_id: str) -> str | None:
    """The endpoint the gateway submitted the task to; None for a task it does not know."""
    return _text(client.hget(task_key(task_id), "endpoint_id"))


def record_started(client: redis.Redis, endpoint_id: str, task_id: str) -> bool:
    """A worker began the task. No effect (False) on a task that already has its result."""
    return bool(client.eval(_START_SCRIPT, 1, result_key(endpoint_id, task_id), ORPHAN_TTL_SECONDS, _now()))


def stored_form(task_id: str, result, large_result_store=None) -> tuple[str | None, str | None]:
    """`(encoded result, None)`, or `(None, location)` once a large result is uploaded to
    `large_result_store` (default: S3 when a bucket is configured). `result` must be
    JSON-serialisable; raises `InfraError` when the upload fails."""
    encoded = json.dumps(result)
    store = large_result_store if large_result_store is not None else S3ResultStore.from_settings()
    if store is not None and len(encoded.encode()) > inline_max_bytes():
        return None, store.put(task_id, encoded.encode())
    return encoded, None


def expected_location(task_id: str) -> str | None:
    """Where a large result of `task_id` may be (the only location a report may name)."""
    bucket = settings.LLME_S3_BUCKET
    return S3ResultStore(bucket).location(task_id) if bucket else None


def record_result(client: redis.Redis, endpoint_id: str, task_id: str, *, status: str, result=None,
                  traceback: str | None = None, status_code: int | None = None,
                  ttl_seconds: int, large_result_store=None, result_location: str | None = None) -> None:
    """Store the outcome (`status` SUCCESS or FAILURE) and keep it `ttl_seconds` from now.

    `result` must be JSON-serialisable. A large one goes to `large_result_store` (see
    `stored_form`); raises `InfraError` when that upload fails, leaving Redis as it was so the
    caller can retry. `result_location` instead of `result`: the result was uploaded already.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown task status {status!r}")
    if result_location is None:
        encoded, result_location = stored_form(task_id, result, large_result_store)
    fields = {"status": status, "updated_at": _now()}
    removed = ["traceback", "status_code"]
    if result_location is not None:
        fields["result_location"] = result_location
        removed.append("result")
    else:
        fields["result"] = encoded
        removed.append("result_location")
    if traceback is not None:
        fields["traceback"] = traceback
        removed.remove("traceback")
    if status_code is not None:
        fields["status_code"] = str(int(status_code))
        removed.remove("status_code")
    key = result_key(endpoint_id, task_id)
    pipeline = client.pipeline()
    pipeline.hdel(key, *removed)  # a redelivered task may have stored a different shape before
    pipeline.hset(key, mapping=fields)
    pipeline.expire(key, max(int(ttl_seconds), 1))
    pipeline.execute()


def read_status(client: redis.Redis, endpoint_id: str, task_id: str) -> str | None:
    """The status the endpoint's forwarder stored (cheap: never loads a result from S3); None
    while it has stored nothing or after it expired."""
    return _text(client.hget(result_key(endpoint_id, task_id), "status"))


def read_task(client: redis.Redis, task_id: str, large_result_store=None) -> dict | None:
    """`{"task_id", "owner", "status", "result", "traceback", "status_code"}` with the result
    decoded (loaded from S3 when it was stored there); None if unknown or expired.

    A result whose S3 object has gone is reported as `result=None` with a traceback saying so.
    """
    submitted = {_text(name): _text(value) for name, value in client.hgetall(task_key(task_id)).items()}
    fields = dict(submitted)
    if submitted.get("endpoint_id"):
        stored = client.hgetall(result_key(submitted["endpoint_id"], task_id))
        fields.update({_text(name): _text(value) for name, value in stored.items()})
        if not stored and _past(submitted.get("expires_at")):
            return None  # never run, and no longer runnable: as gone as an expired result
    if not fields:
        return None
    fields["owner"] = submitted.get("owner")
    status = fields.get("status") if fields.get("status") in STATUSES else UNDEFINED
    task = {"task_id": task_id, "owner": fields.get("owner"), "status": status, "result": None,
            "traceback": fields.get("traceback"), "status_code": None}
    if fields.get("status_code"):
        task["status_code"] = int(fields["status_code"])
    if fields.get("result") is not None:
        task["result"] = json.loads(fields["result"])
    elif fields.get("result_location"):
        store = large_result_store if large_result_store is not None else S3ResultStore()
        data = store.get(fields["result_location"])
        if data is None:
            task["traceback"] = f"the result at {fields['result_location']} is no longer available"
        else:
            task["result"] = json.loads(data)
    return task


def _past(epoch_text: str | None) -> bool:
    try:
        return epoch_text is not None and time.time() > float(epoch_text)
    except ValueError:
        return False


class S3ResultStore:
    """Large results as S3 objects `s3://<bucket>/async-results/<task_id>.json`.

    `put` returns the location; `get` returns the bytes or None when the object is missing.
    Other failures raise `InfraError` (transient for throttling and connection problems).
    """

    def __init__(self, bucket: str = ""):
        self.bucket = bucket

    @classmethod
    def from_settings(cls) -> "S3ResultStore | None":
        bucket = settings.LLME_S3_BUCKET
        return cls(bucket) if bucket else None

    def location(self, task_id: str) -> str:
        return f"s3://{self.bucket}/{RESULTS_PREFIX}{task_id}.json"

    def put(self, task_id: str, data: bytes) -> str:
        key = f"{RESULTS_PREFIX}{task_id}.json"
        try:
            aws.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        except Exception as error:
            raise aws.translate(error, f"store the result of task {task_id} in S3") from error
        return f"s3://{self.bucket}/{key}"

    def get(self, location: str) -> bytes | None:
        bucket, _, key = location.removeprefix("s3://").partition("/")
        try:
            return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:
            if aws.error_code(error) in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise aws.translate(error, f"read the task result at {location}") from error


def inline_max_bytes() -> int:
    """Largest encoded result kept in Redis when a bucket is configured."""
    return settings.LLME_ASYNC_RESULT_INLINE_MAX_BYTES


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return f"{time.time():.3f}"
