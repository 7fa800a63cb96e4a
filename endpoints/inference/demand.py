"""In-flight requests per endpoint, which KEDA's metrics-api trigger reads to scale sync and
streaming endpoints (0↔N on `in_flight / per_worker`).

Off the request path: each gateway process counts its own requests in memory and a background
task publishes the counts every FLUSH_SECONDS into a Redis hash per endpoint (one field per
process, stamped with the time). Readers sum the fresh fields, so a process that dies stops
counting within STALE_SECONDS. Without Redis (`make run`) the count is the process's own."""
import asyncio
import time
import uuid
from collections import defaultdict

import redis.asyncio as aioredis
from django.conf import settings

FLUSH_SECONDS = 0.25
STALE_SECONDS = 5.0
PROCESS_ID = uuid.uuid4().hex[:12]
_counts: dict[str, int] = defaultdict(int)
_dirty: set[str] = set()
_clients: dict[int, aioredis.Redis] = {}  # per event loop, like the HTTP client
_flushers: dict[int, asyncio.Task] = {}


def _client():
    if not settings.REDIS_URL:
        return None
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _clients:
        _clients[loop_id] = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _clients[loop_id]


def _key(endpoint_id: str) -> str:
    return f"llme:inflight:{endpoint_id}"


def _ensure_flusher() -> None:
    loop = asyncio.get_running_loop()
    task = _flushers.get(id(loop))
    if (task is None or task.done()) and settings.REDIS_URL:
        _flushers[id(loop)] = loop.create_task(_flush_forever())


async def _flush_forever() -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await flush()
        except Exception:  # Redis down: keep counting locally, publish when it is back
            pass


async def flush() -> None:
    """Publish this process's counts: changed ones, and every non-zero one (to stay fresh)."""
    client = _client()
    names = _dirty | {name for name, count in _counts.items() if count}
    if client is None or not names:
        return
    _dirty.difference_update(names)
    now = time.time()
    pipeline = client.pipeline(transaction=False)
    for name in names:
        pipeline.hset(_key(name), PROCESS_ID, f"{_counts[name]}:{now}")
        pipeline.expire(_key(name), int(STALE_SECONDS * 12))
    await pipeline.execute()


async def begin(endpoint_id: str) -> None:
    _counts[endpoint_id] += 1
    _dirty.add(endpoint_id)
    _ensure_flusher()


async def end(endpoint_id: str, token=None) -> None:
    _counts[endpoint_id] -= 1
    _dirty.add(endpoint_id)


async def in_flight(endpoint_id: str) -> int:
    """Requests in flight for the endpoint across gateway processes (this one counted live)."""
    client = _client()
    total = _counts.get(endpoint_id, 0)
    if client is None:
        return total
    fresh_after = time.time() - STALE_SECONDS
    for process, value in (await client.hgetall(_key(endpoint_id))).items():
        if process.decode() == PROCESS_ID:
            continue
        count, _, stamp = value.decode().partition(":")
        if float(stamp or 0) >= fresh_after:
            total += int(count)
    return total


def reset_clients() -> None:
    """Forget connections and background tasks (tests, and after a fork)."""
    _clients.clear()
    _flushers.clear()
