"""Gateway → endpoint HTTP: one pooled aiohttp client per process, retries with backoff on
429, 503 and connection errors until a deadline (which is also how a request waits for a
scale-from-zero endpoint to wake up).

aiohttp rather than httpx: its HTTP/1.1 parser is C (httpx/httpcore's h11 is pure Python) and
its connection pool hands out a kept-alive connection in constant time, where httpcore's pool
examines every pooled connection on each request, which after a burst cost a gateway worker more
CPU than the proxying itself (see README, "Gateway overhead"). The pool is bounded
(MAX_CONNECTIONS; further requests wait for a free connection, within the connect timeout) and
idle connections close after KEEPALIVE_SECONDS."""
import asyncio
import random
import time
from collections.abc import AsyncIterator

import aiohttp
from django.conf import settings
from yarl import URL

from endpoints.inference import jsonio
from llmengine_site.errors import UpstreamFailure

RETRY_STATUSES = (429, 503)
MAX_CONNECTIONS = 1024
KEEPALIVE_SECONDS = 15.0
CONNECT_SECONDS = 5.0
POOL_WAIT_SECONDS = 30.0
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
_JSON_HEADERS = {"Content-Type": "application/json"}
_STREAM_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
# One client per event loop: a pooled connection belongs to the loop that opened it (under
# uvicorn there is one loop per worker process, so one client).
_sessions: dict[int, tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = {}


def session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    existing = _sessions.get(id(loop))
    if existing is None or existing[0] is not loop or existing[1].closed:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0,
                                         keepalive_timeout=KEEPALIVE_SECONDS, ttl_dns_cache=10)
        client = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
            skip_auto_headers=("User-Agent",), timeout=_timeout(settings.LLME_UPSTREAM_READ_TIMEOUT_SECONDS),
        )
        existing = _sessions[id(loop)] = (loop, client)
    return existing[1]


async def close_sessions() -> None:
    """Close this loop's client (its pooled connections), e.g. when the worker shuts down."""
    entry = _sessions.pop(id(asyncio.get_running_loop()), None)
    if entry is not None and not entry[1].closed:
        await entry[1].close()


_timeouts: dict[float, aiohttp.ClientTimeout] = {}


def _timeout(read_seconds: float) -> aiohttp.ClientTimeout:
    timeout = _timeouts.get(read_seconds)
    if timeout is None:
        timeout = _timeouts[read_seconds] = aiohttp.ClientTimeout(
            total=None, connect=POOL_WAIT_SECONDS, sock_connect=CONNECT_SECONDS, sock_read=read_seconds)
    return timeout


_urls: dict[str, URL] = {}


def _parsed(url: str) -> URL:
    """Parsed URLs are kept: endpoints and routes are few, and parsing is not free."""
    parsed = _urls.get(url)
    if parsed is None:
        if len(_urls) >= 10_000:
            _urls.clear()
        parsed = _urls[url] = URL(url)
    return parsed


def _post(url: str, body, *, stream: bool):
    return session().post(_parsed(url), data=jsonio.dumps(body), headers=_STREAM_HEADERS if stream else _JSON_HEADERS,
                          timeout=_timeout(settings.LLME_UPSTREAM_READ_TIMEOUT_SECONDS))


def _backoff(attempt: int) -> float:
    return min(0.05 * (2 ** attempt), 2.0) * (0.5 + random.random() / 2)


def _decode(raw: bytes):
    try:
        return jsonio.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


async def _retrying(send_once, deadline_seconds: float, readiness=None):
    """Call `send_once()` until it returns a result (not None), retrying with backoff while it
    returns None (a 429/503 answer: its status is passed through `last`) or raises a transport
    error; UpstreamFailure once the deadline would pass. `readiness` (optional) is asked after
    each failed attempt whether anything that could answer is on its way (its `check()` raises
    UpstreamFailure when not) and says what the wait is for (`waiting_for`)."""
    deadline = time.monotonic() + deadline_seconds
    attempt, last = 0, None
    while True:
        try:
            result, last = await send_once()
            if result is not None:
                return result
        except TRANSPORT_ERRORS as exc:
            last = exc
        if readiness is not None and last != 429:
            await readiness.check()
        pause = _backoff(attempt)
        if time.monotonic() + pause > deadline:
            raise _failure(last, deadline_seconds, getattr(readiness, "waiting_for", ""))
        attempt += 1
        await asyncio.sleep(pause)


async def post_json(url: str, body, *, deadline_seconds: float, readiness=None) -> tuple[int, object]:
    """POST `body`, retrying 429/503/connection errors until the deadline. Returns the status
    and decoded body of the first other answer; raises UpstreamFailure at the deadline."""

    async def once():
        async with _post(url, body, stream=False) as response:
            raw = await response.read()
        if response.status in RETRY_STATUSES:
            return None, response.status
        return (response.status, _decode(raw)), None

    return await _retrying(once, deadline_seconds, readiness)


def _failure(last, deadline_seconds: float, waiting_for: str = "") -> UpstreamFailure:
    if last == 429:
        return UpstreamFailure(429, "Too many concurrent requests: the endpoint is saturated, retry later")
    if waiting_for:
        return UpstreamFailure(
            503, f"No replica of the endpoint answered within {deadline_seconds:g} seconds; waited for {waiting_for}. "
                 "Retry later, or check the endpoint's status"
        )
    return UpstreamFailure(
        503, f"No replica of the endpoint answered within {deadline_seconds:g} seconds (it may be scaling up "
             "from zero, or failing: check its status)"
    )


class Stream:
    """An open upstream stream: `status` is known before the first byte is relayed."""

    def __init__(self, response: aiohttp.ClientResponse):
        self.response = response
        self.status = response.status

    async def events(self) -> AsyncIterator[str]:
        """The `data:` payloads of an SSE body (`[DONE]` excluded). Lines are split here rather
        than by the client's line reader, which refuses lines longer than its buffer."""
        pending = b""
        async for chunk in self.response.content.iter_any():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b"data:"):
                    data = line[5:].strip()
                    if data and data != b"[DONE]":
                        yield data.decode()
        if pending.startswith(b"data:"):
            data = pending[5:].strip()
            if data and data != b"[DONE]":
                yield data.decode()

    async def body(self):
        return _decode(await self.response.read())

    async def close(self) -> None:
        """Back to the pool when read to the end; an abandoned stream's connection is closed."""
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()


async def open_stream(url: str, body, *, deadline_seconds: float, readiness=None) -> Stream:
    """Open a streaming POST, retrying before the first byte like `post_json`."""

    async def once():
        response = await _post(url, body, stream=True)
        if response.status in RETRY_STATUSES:
            response.release()
            return None, response.status
        return Stream(response), None

    return await _retrying(once, deadline_seconds, readiness)
