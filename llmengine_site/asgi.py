"""ASGI entry point of the gateway (gunicorn + uvicorn worker).

Inference routes (the hot path, `endpoints/inference/urls.py`) are dispatched here, at the ASGI
layer, before Django builds a request object: a few microseconds of routing instead of Django's
request, handler and response machinery (which also runs sync hooks in worker threads). The
views are the same async views, behind the same authentication, routing and error mapping
(`endpoints.inference.http.api`); they read only `GET`, `headers` and `body` of the request.
Everything else, and any path under these prefixes that the inference URLs do not match, goes
through Django's full stack."""
import os
import warnings

from django.core.asgi import get_asgi_application

# Static files (WhiteNoise) and admin downloads are file responses: Django serves their
# synchronous iterators from a thread under ASGI, which is what we want for them, and warns on
# every one. Streams on the inference path are async iterators.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmengine_site.settings")
django_application = get_asgi_application()

import asyncio  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import uuid  # noqa: E402
from contextlib import aclosing  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

from django.conf import settings  # noqa: E402
from django.urls import Resolver404, URLResolver, get_resolver  # noqa: E402
from django.urls.resolvers import RegexPattern  # noqa: E402

from endpoints.inference import jsonio, transport  # noqa: E402
from llmengine_site.dramatiq_setup import start_inprocess_worker_if_configured  # noqa: E402
from llmengine_site.errors import internal_error_body  # noqa: E402
from llmengine_site.input_guard import asgi_refusal  # noqa: E402

logger = logging.getLogger(__name__)

HOT_PATH_PREFIXES = (
    "/v1/llm/completions-", "/v1/chat/completions", "/v1/completions", "/v2/chat/completions", "/v2/completions",
    "/v1/sync-tasks", "/v1/streaming-tasks", "/v1/async-tasks", "/v1/internal/",
)
_resolver = URLResolver(RegexPattern(r"^/"), "endpoints.inference.urls")
_matches: dict[str, tuple] = {}


def _resolve(path: str):
    """(view, kwargs) of an inference route, or None. Routes without path parameters are
    resolved once per process."""
    hit = _matches.get(path)
    if hit is None:
        try:
            match = _resolver.resolve(path)
        except Resolver404:
            return None
        hit = (match.func, match.kwargs)
        if not match.kwargs and len(_matches) < 64:
            _matches[path] = hit
    return hit


class _Headers:
    """Request headers, looked up case-insensitively (like Django's `request.headers`)."""

    __slots__ = ("_raw",)

    def __init__(self, raw):
        self._raw = raw

    def get(self, name: str, default=None):
        wanted = name.lower().encode("latin-1")
        values = [value.decode("latin-1") for key, value in self._raw if key == wanted]
        return ",".join(values) if values else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


class HotRequest:
    """What the inference views read of a request."""

    __slots__ = ("method", "path", "body", "headers", "_query", "_get")

    def __init__(self, scope, body: bytes):
        self.method = scope["method"]
        self.path = scope["path"]
        self.body = body
        self.headers = _Headers(scope["headers"])
        self._query = scope.get("query_string", b"")
        self._get = None

    @property
    def GET(self) -> dict:  # noqa: N802 (Django's name)
        if self._get is None:
            self._get = dict(parse_qsl(self._query.decode(errors="replace"), keep_blank_values=True))
        return self._get


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive) -> bytes | None:
    """The request body; None when the client went away first."""
    chunks, size, limit = [], 0, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if limit is not None and size > limit:
                raise _BodyTooLarge()
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send_json(send, status: int, body) -> None:
    content = jsonio.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


class _Exchange:
    __slots__ = ("finishing", "client_gone")

    def __init__(self):
        self.finishing = False
        self.client_gone = False


async def _send_response(response, send, exchange: _Exchange) -> None:
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.items()]
    if response.streaming:
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with aclosing(aiter(response)) as content:
            async for part in content:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        exchange.finishing = True
        await send({"type": "http.response.body"})
    else:
        content = response.content
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        exchange.finishing = True
        await send({"type": "http.response.body", "body": content})


async def _cancel_on_disconnect(receive, task: asyncio.Task, exchange: _Exchange) -> None:
    """As Django does: stop working on a request whose client went away (a streaming answer's
    upstream is closed and its demand released)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not exchange.finishing:
                exchange.client_gone = True
                task.cancel()
            return


async def hot_path(scope, receive, send) -> None:
    route = _resolve(scope["path"])
    if route is None:
        return await django_application(scope, receive, send)
    view, kwargs = route
    try:
        body = await _read_body(receive)
    except _BodyTooLarge:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return await _send_json(send, 413, {"detail": f"The request body is larger than the limit of {limit} bytes"})
    if body is None:
        return
    exchange = _Exchange()
    task = asyncio.current_task()
    watcher = asyncio.get_running_loop().create_task(_cancel_on_disconnect(receive, task, exchange))
    started = False
    try:
        response = await view(HotRequest(scope, body), **kwargs)
        started = True
        await _send_response(response, send, exchange)
    except asyncio.CancelledError:
        if not exchange.client_gone:
            raise
        task.uncancel()  # the client went away: nothing to answer
    except Exception:
        if started:
            raise  # the answer has begun: the server closes the connection
        request_id = str(uuid.uuid4())
        logger.exception("unhandled error serving %s (request %s)", scope["path"], request_id)
        await _send_json(send, 500, internal_error_body(request_id))
    finally:
        watcher.cancel()


async def lifespan(receive, send) -> None:
    """Startup has nothing to do; at shutdown the pooled upstream connections are closed."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await transport.close_sessions()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "http":
        # Hostile input before anything reads the body (Django's ASGI handler reads it whole
        # before its middleware runs) and before authentication (llmengine_site/input_guard.py).
        refusal = asgi_refusal(scope)
        if refusal is not None:
            return await _send_json(send, *refusal)
        if scope["path"].startswith(HOT_PATH_PREFIXES):
            return await hot_path(scope, receive, send)
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    return await django_application(scope, receive, send)


start_inprocess_worker_if_configured()

# The URL confs (and so every view module) are imported now rather than on the first request.
_resolver.url_patterns  # noqa: B018
get_resolver().url_patterns  # noqa: B018
# Everything imported so far (Django, the apps, the URL conf: most of the worker's heap) lives as
# long as the process. Frozen, the garbage collector stops traversing it: a full collection took
# ~110 ms in a gateway worker (a stall of every request in flight) and ~8 ms frozen; together
# they were ~14 % of the worker's CPU at 64 requests in flight (bench/gateway_overhead.py).
gc.freeze()
