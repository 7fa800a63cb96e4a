"""Plain ASGI building blocks: the forwarder has a handful of routes and no use for a framework
on its hot path. Also the shared pieces of both modes: the upstream health poller, the probe
routes and the pooled upstream client."""
import asyncio
import json
import logging

import httpx

log = logging.getLogger("endpoints.forwarder")

JSON_HEADERS = [(b"content-type", b"application/json")]


async def read_body(receive) -> bytes | None:
    """The whole request body; None when the client went away before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_json(send, status: int, body, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [*JSON_HEADERS, (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


async def serve_lifespan(receive, send, startup, shutdown) -> None:
    """Run the ASGI lifespan protocol around `startup()` / `shutdown()` coroutines."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup()
            except Exception as error:  # reported to uvicorn, which exits non-zero
                log.exception("forwarder failed to start")
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def upstream_client(max_connections: int | None = None) -> httpx.AsyncClient:
    """One pooled client per process. No read timeout: a generation may legitimately take
    minutes, and the gateway (or the queue's visibility) owns the deadline."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=None, write=60.0, pool=None),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64,
                            keepalive_expiry=30.0),
    )


class UpstreamHealth:
    """Whether the main container answers its health route with 2xx, polled in the background.

    `ready` is False until the first successful check, so the pod is never ready before the
    model is. Probes read the cached value: a slow model server cannot make them time out.
    """

    def __init__(self, client: httpx.AsyncClient, url: str, interval: float):
        self.client = client
        self.url = url
        self.interval = interval
        self.ready = False
        self._task: asyncio.Task | None = None

    async def check(self) -> bool:
        try:
            response = await self.client.get(self.url, timeout=max(1.0, min(self.interval, 5.0)))
            healthy = 200 <= response.status_code < 300
        except httpx.HTTPError:
            healthy = False
        if healthy != self.ready:
            log.info("main container is %s (%s)", "healthy" if healthy else "not healthy", self.url)
        self.ready = healthy
        return healthy

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval)


async def answer_probe(path: str, send, health: UpstreamHealth) -> bool:
    """Answer `GET /healthz` (liveness: the process runs) and `GET /readyz` (the main container
    is healthy). Returns False for any other path."""
    if path == "/healthz":
        await send_json(send, 200, {"status": "ok"})
    elif path == "/readyz":
        if health.ready:
            await send_json(send, 200, {"status": "ok"})
        else:
            await send_json(send, 503, {"detail": "The model server is not ready yet"})
    else:
        return False
    return True
