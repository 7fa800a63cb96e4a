"""Gateway → endpoint HTTP: one pooled httpx transport per process, retries with backoff on
429, 503 and connection errors until a deadline (which is also how a request waits for a
scale-from-zero endpoint to wake up).

Requests go straight to httpx's connection-pooling transport: the client layer above it
(redirects, cookies, auth, URL merging, event hooks) does nothing for us and costs about
0.2 ms a request on the hot path."""
import asyncio
import functools
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from django.conf import settings

RETRY_STATUSES = (429, 503)
_JSON_HEADERS = ((b"content-type", b"application/json"),)
# One transport per event loop: a pooled connection belongs to the loop that opened it (under
# uvicorn there is one loop per worker process, so one transport).
_transports: dict[int, httpx.AsyncHTTPTransport] = {}


def transport() -> httpx.AsyncHTTPTransport:
    loop_id = id(asyncio.get_running_loop())
    existing = _transports.get(loop_id)
    if existing is None:
        existing = _transports[loop_id] = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500, keepalive_expiry=30.0),
        )
    return existing


_urls: dict[str, httpx.URL] = {}


@functools.lru_cache(maxsize=8)
def _timeouts(read_seconds: float) -> dict:
    return httpx.Timeout(connect=5.0, read=read_seconds, write=30.0, pool=30.0).as_dict()


def _parsed(url: str) -> httpx.URL:
    """Parsed URLs are kept: endpoints and routes are few, and parsing is not free."""
    parsed = _urls.get(url)
    if parsed is None:
        if len(_urls) >= 10_000:
            _urls.clear()
        parsed = _urls[url] = httpx.URL(url)
    return parsed


def _request(url: str, body, *, stream: bool) -> httpx.Request:
    content = json.dumps(body).encode()
    headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
    if stream:
        headers.append((b"accept", b"text/event-stream"))
    request = httpx.Request("POST", _parsed(url), headers=headers, content=content)
    request.extensions["timeout"] = _timeouts(settings.LLME_UPSTREAM_READ_TIMEOUT_SECONDS)
    return request


@dataclass
class UpstreamFailure(Exception):
    """No successful answer before the deadline. `status` is what the caller gets."""

    status: int
    detail: str
    payload: object = None


def _backoff(attempt: int) -> float:
    return min(0.05 * (2 ** attempt), 2.0) * (0.5 + random.random() / 2)


def _decode(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


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
        response = await transport().handle_async_request(_request(url, body, stream=False))
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        if response.status_code in RETRY_STATUSES:
            return None, response.status_code
        return (response.status_code, _decode(raw)), None

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
        return _decode(await self.response.aread())

    async def close(self) -> None:
        await self.response.aclose()


async def open_stream(url: str, body, *, deadline_seconds: float) -> Stream:
    """Open a streaming POST, retrying before the first byte like `post_json`."""

    async def once():
        response = await transport().handle_async_request(_request(url, body, stream=True))
        if response.status_code in RETRY_STATUSES:
            await response.aclose()
            return None, response.status_code
        return Stream(response), None

    return await _retrying(once, deadline_seconds)
