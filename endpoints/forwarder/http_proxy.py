"""HTTP mode: relay the gateway's requests to the main container on localhost.

Guarantees:
- `POST /predict` goes to the predict route, `POST /stream` to the stream route, every extra
  route (and the upstream's own routes) to the same path; bodies, query strings and upstream
  status codes pass through unchanged.
- An upstream answer of `text/event-stream` is relayed chunk by chunk as it arrives; if the
  upstream dies mid-stream the connection is cut without a clean end, so the gateway can tell a
  truncated stream from a finished one and report the error in-band.
- More than the concurrency limit in flight: 429 at once (the gateway retries; queueing here
  would hide saturation from the autoscaler). Upstream unreachable: 503 with a JSON detail.
- Every relayed response carries `x-llm-engine-forwarder-ms`: time spent here, upstream excluded.
"""
import asyncio
import logging
import time

import httpx

from endpoints.forwarder.asgi import answer_probe, read_body, send_json, serve_lifespan, upstream_client, UpstreamHealth
from endpoints.forwarder.config import Settings

log = logging.getLogger("endpoints.forwarder")

TOO_MANY = {"detail": "Too many requests: the endpoint is at its concurrency limit"}
# Request headers the model server may care about; the rest (auth, hop-by-hop) stay here.
RELAYED_REQUEST_HEADERS = (b"content-type", b"accept")
EVENT_STREAM = "text/event-stream"


class HttpProxy:
    """The HTTP-mode ASGI application."""

    def __init__(self, settings: Settings):
        self.settings = settings
        options = settings.options
        self.upstream = options.upstream
        self.fixed_routes = {"/predict": options.predict_route, options.predict_route: options.predict_route}
        if options.stream_route:
            self.fixed_routes.update({"/stream": options.stream_route, options.stream_route: options.stream_route})
        self.in_flight = 0
        self.client: httpx.AsyncClient | None = None
        self.health: UpstreamHealth | None = None

    # -- lifecycle
    async def startup(self) -> None:
        self.client = upstream_client()
        self.health = UpstreamHealth(self.client, self.upstream + self.settings.options.healthcheck_route,
                                     self.settings.options.health_interval_seconds)
        self.health.start()

    async def shutdown(self) -> None:
        await self.health.stop()
        await self.client.aclose()

    # -- ASGI
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await serve_lifespan(receive, send, self.startup, self.shutdown)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and await answer_probe(path, send, self.health):
            return
        target = self.target(path)
        if target is None:
            return await send_json(send, 404, {"detail": f"No route {path} on this endpoint"})
        if method != "POST":
            return await send_json(send, 405, {"detail": f"{path} accepts POST only"})
        if self.in_flight >= self.settings.max_concurrency():
            return await send_json(send, 429, TOO_MANY)
        self.in_flight += 1
        try:
            await self.relay(scope, receive, send, target)
        finally:
            self.in_flight -= 1

    def target(self, path: str) -> str | None:
        """Upstream path for a request path, or None when the endpoint does not expose it."""
        if path in self.fixed_routes:
            return self.fixed_routes[path]
        return path if path in self.settings.extra_routes() else None

    # -- relaying
    async def relay(self, scope, receive, send, target: str) -> None:
        started = time.perf_counter()
        body = await read_body(receive)
        if body is None:
            return
        url = self.upstream + target
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(name, value) for name, value in scope["headers"] if name in RELAYED_REQUEST_HEADERS]
        request = self.client.build_request("POST", url, content=body, headers=headers)
        upstream_started = time.perf_counter()
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as error:
            log.warning("upstream %s unreachable: %r", url, error)
            return await send_json(send, 503, {"detail": f"The model server is not reachable: {error!r}"})
        upstream_seconds = time.perf_counter() - upstream_started
        try:
            if response.headers.get("content-type", "").startswith(EVENT_STREAM):
                await self._relay_stream(response, receive, send, started, upstream_seconds)
            else:
                await self._relay_whole(response, send, started, upstream_seconds)
        finally:
            await response.aclose()

    async def _relay_whole(self, response: httpx.Response, send, started: float, upstream_seconds: float) -> None:
        reading = time.perf_counter()
        try:
            content = await response.aread()
        except httpx.HTTPError as error:
            log.warning("upstream answer cut short: %r", error)
            return await send_json(send, 503, {"detail": f"The model server's answer was cut short: {error!r}"})
        upstream_seconds += time.perf_counter() - reading
        headers = _response_headers(response, started, upstream_seconds)
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _relay_stream(self, response: httpx.Response, receive, send, started: float,
                            upstream_seconds: float) -> None:
        headers = _response_headers(response, started, upstream_seconds)
        headers.append((b"cache-control", b"no-cache"))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        # uvicorn silently drops writes to a gone client: watch for the disconnect ourselves so
        # an abandoned generation stops occupying a concurrency slot and the model server.
        relay = asyncio.create_task(_copy_chunks(response, send))
        watcher = asyncio.create_task(_wait_for_disconnect(receive))
        done, _ = await asyncio.wait({relay, watcher}, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if relay not in done:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)
            return
        if relay.exception() is not None:
            # Returning without the final empty chunk makes uvicorn close the connection, which
            # the gateway sees as a truncated response.
            log.warning("upstream stream broke off: %r", relay.exception())
            return
        await send({"type": "http.response.body", "body": b""})


async def _copy_chunks(response: httpx.Response, send) -> None:
    async for chunk in response.aiter_bytes():
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _wait_for_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _response_headers(response: httpx.Response, started: float, upstream_seconds: float) -> list:
    own_ms = (time.perf_counter() - started - upstream_seconds) * 1000
    headers = [(b"x-llm-engine-forwarder-ms", f"{own_ms:.2f}".encode())]
    if "content-type" in response.headers:
        headers.append((b"content-type", response.headers["content-type"].encode("latin-1")))
    return headers
