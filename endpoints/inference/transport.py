"""Gateway → endpoint HTTP: one pooled httpx client per process, retries with backoff on 429,
503 and connection errors until a deadline (which is also how a request waits for a
scale-from-zero endpoint to wake up)."""
import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from django.conf import settings

RETRY_STATUSES = (429, 503)
# One client per event loop: a pooled connection belongs to the loop that opened it (under
# uvicorn there is one loop per worker process, so one client).
_clients: dict[int, httpx.AsyncClient] = {}


def client() -> httpx.AsyncClient:
    loop_id = id(asyncio.get_running_loop())
    existing = _clients.get(loop_id)
    if existing is None or existing.is_closed:
        existing = _clients[loop_id] = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=getattr(settings, "LLME_UPSTREAM_READ_TIMEOUT_SECONDS", 600.0),
                                  write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500, keepalive_expiry=30.0),
        )
    return existing


@dataclass
class UpstreamFailure(Exception):
    """No successful answer before the deadline. `status` is what the caller gets."""

    status: int
    detail: str
    payload: object = None


def _backoff(attempt: int) -> float:
    return min(0.05 * (2 ** attempt), 2.0) * (0.5 + random.random() / 2)


def _decode(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return response.text


async def _retrying(send_once, deadline_seconds: float):
    """Call `send_once()` until it returns a result (not None), retrying with backoff while it
    returns None (a 429/503 answer: its status is passed through `last`) or raises a transport
    error; UpstreamFailure once the deadline would pass."""
    deadline = time.monotonic() + deadline_seconds
    attempt, last = 0, None
    while True:
        try:
            result, last = await send_once()
            if result is not None:
                return result
        except httpx.TransportError as exc:
            last = exc
        pause = _backoff(attempt)
        if time.monotonic() + pause > deadline:
            raise _failure(last, deadline_seconds)
        attempt += 1
        await asyncio.sleep(pause)


async def post_json(url: str, body, *, deadline_seconds: float) -> tuple[int, object]:
    """POST `body`, retrying 429/503/connection errors until the deadline. Returns the status
    and decoded body of the first other answer; raises UpstreamFailure at the deadline."""

    async def once():
        response = await client().post(url, json=body)
        if response.status_code in RETRY_STATUSES:
            return None, response.status_code
        return (response.status_code, _decode(response)), None

    return await _retrying(once, deadline_seconds)


def _failure(last, deadline_seconds: float) -> UpstreamFailure:
    if last == 429:
        return UpstreamFailure(429, "Too many concurrent requests: the endpoint is saturated, retry later")
    return UpstreamFailure(
        503, f"No replica of the endpoint answered within {deadline_seconds:g} seconds (it may be scaling up "
             "from zero, or failing: check its status)"
    )


class Stream:
    """An open upstream stream: `status` is known before the first byte is relayed."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self.status = response.status_code

    async def events(self) -> AsyncIterator[str]:
        """The `data:` payloads of an SSE body (`[DONE]` excluded)."""
        async for line in self.response.aiter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
                if data and data != "[DONE]":
                    yield data

    async def body(self):
        raw = await self.response.aread()
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    async def close(self) -> None:
        await self.response.aclose()


async def open_stream(url: str, body, *, deadline_seconds: float) -> Stream:
    """Open a streaming POST, retrying before the first byte like `post_json`."""

    async def once():
        request = client().build_request("POST", url, json=body, headers={"Accept": "text/event-stream"})
        response = await client().send(request, stream=True)
        if response.status_code in RETRY_STATUSES:
            await response.aclose()
            return None, response.status_code
        return Stream(response), None

    return await _retrying(once, deadline_seconds)
