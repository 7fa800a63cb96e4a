"""Async task state in Redis, shared by the gateway (submits, reads) and the forwarder (runs).

One hash per task, `RESULT_KEY.format(task_id=...)`, with the fields

    owner        the team that submitted the task; written once, by `record_submitted`
    status       PENDING -> STARTED -> SUCCESS | FAILURE
    result       JSON text of the result (absent when it lives in S3)
    result_location  `s3://bucket/key` of a result too large to keep in Redis
    traceback, status_code, updated_at

Guarantees:
- The owner is never overwritten: only `record_submitted` writes it, so a worker cannot hand a
  task to another team, and `read_task` returns `owner=None` for a task nobody submitted
  (callers must treat that as not found).
- A finished task (SUCCESS/FAILURE) never goes back to STARTED: a message delivered again after
  its result was stored does not regress the state readers see.
- Every hash expires: the submit TTL, then `ttl_seconds` from the moment the result is stored.
- Results larger than `LLME_ASYNC_RESULT_INLINE_MAX_BYTES` (256 KiB) go to S3 under
  `async-results/<task_id>.json` when `LLME_S3_BUCKET` is set; `read_task` loads them back.
  Without a bucket they stay in Redis whatever their size.

Works with clients created with or without `decode_responses`. No database access; Django
settings are read when configured, else the environment (the forwarder needs no Django setup).
"""
import json
import os
import time

import redis

RESULT_KEY = "llme:task:{task_id}"
RESULTS_PREFIX = "async-results/"
DEFAULT_INLINE_MAX_BYTES = 256 * 1024
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


def result_key(task_id: str) -> str:
    return RESULT_KEY.format(task_id=task_id)


def record_submitted(client: redis.Redis, task_id: str, owner: str, ttl_seconds: int) -> None:
    """The gateway accepted the task: status PENDING, owned by `owner`, kept `ttl_seconds`."""
    key = result_key(task_id)
    pipeline = client.pipeline()
    pipeline.hset(key, mapping={"owner": owner, "status": PENDING, "updated_at": _now()})
    pipeline.expire(key, max(int(ttl_seconds), 1))
    pipeline.execute()


def record_started(client: redis.Redis, task_id: str) -> None:
    """A worker began the task. No effect on a task that already has its result."""
    client.eval(_START_SCRIPT, 1, result_key(task_id), ORPHAN_TTL_SECONDS, _now())


def record_result(client: redis.Redis, task_id: str, *, status: str, result=None,
                  traceback: str | None = None, status_code: int | None = None,
                  ttl_seconds: int, large_result_store=None) -> None:
    """Store the outcome (`status` SUCCESS or FAILURE) and keep it `ttl_seconds` from now.

    `result` must be JSON-serialisable. A large one goes to `large_result_store` (default: S3
    when a bucket is configured); raises `InfraError` when that upload fails, leaving Redis as
    it was so the caller can retry.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown task status {status!r}")
    encoded = json.dumps(result)
    fields = {"status": status, "updated_at": _now()}
    removed = ["traceback", "status_code"]
    store = large_result_store if large_result_store is not None else S3ResultStore.from_settings()
    if store is not None and len(encoded.encode()) > inline_max_bytes():
        fields["result_location"] = store.put(task_id, encoded.encode())
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
    key = result_key(task_id)
    pipeline = client.pipeline()
    pipeline.hdel(key, *removed)  # a redelivered task may have stored a different shape before
    pipeline.hset(key, mapping=fields)
    pipeline.expire(key, max(int(ttl_seconds), 1))
    pipeline.execute()


def read_status(client: redis.Redis, task_id: str) -> str | None:
    """Just the status (cheap: never loads a result from S3); None if unknown or expired."""
    return _text(client.hget(result_key(task_id), "status"))


def read_task(client: redis.Redis, task_id: str, large_result_store=None) -> dict | None:
    """`{"task_id", "owner", "status", "result", "traceback", "status_code"}` with the result
    decoded (loaded from S3 when it was stored there); None if unknown or expired.

    A result whose S3 object has gone is reported as `result=None` with a traceback saying so.
    """
    raw = client.hgetall(result_key(task_id))
    if not raw:
        return None
    fields = {_text(name): _text(value) for name, value in raw.items()}
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


class S3ResultStore:
    """Large results as S3 objects `s3://<bucket>/async-results/<task_id>.json`.

    `put` returns the location; `get` returns the bytes or None when the object is missing.
    Other failures raise `InfraError` (transient for throttling and connection problems).
    """

    def __init__(self, bucket: str = ""):
        self.bucket = bucket

    @classmethod
    def from_settings(cls) -> "S3ResultStore | None":
        bucket = _setting("LLME_S3_BUCKET", "")
        return cls(bucket) if bucket else None

    def put(self, task_id: str, data: bytes) -> str:
        from llmengine_site.infra import aws

        key = f"{RESULTS_PREFIX}{task_id}.json"
        try:
            aws.client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        except Exception as error:
            raise aws.translate(error, f"store the result of task {task_id} in S3") from error
        return f"s3://{self.bucket}/{key}"

    def get(self, location: str) -> bytes | None:
        from llmengine_site.infra import aws

        bucket, _, key = location.removeprefix("s3://").partition("/")
        try:
            return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:
            if aws.error_code(error) in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise aws.translate(error, f"read the task result at {location}") from error


def inline_max_bytes() -> int:
    """Largest encoded result kept in Redis when a bucket is configured."""
    return int(_setting("LLME_ASYNC_RESULT_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES))


def _setting(name: str, default):
    """Django settings when a settings module is set (the gateway and the forwarder), then the
    environment (for names settings.py does not define), then `default`."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        value = getattr(settings, name, None)
    except ImproperlyConfigured:  # no settings module: a plain script
        value = None
    if value in (None, ""):
        value = os.environ.get(name, "")
    return value if value != "" else default


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return f"{time.time():.3f}"
