"""ASGI entry point of the gateway (gunicorn + uvicorn worker).

Inference routes (the hot path) are served by a Django handler without the middleware stack:
Django runs each sync middleware hook in a worker thread, which costs several thread hops per
request, and these routes use none of it (credentials are headers, not cookies; no sessions,
CSRF or admin). Everything else goes through the full stack."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmengine_site.settings")
django_application = get_asgi_application()

import asyncio  # noqa: E402

from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402

from llmengine_site.dramatiq_setup import start_inprocess_worker_if_configured  # noqa: E402

HOT_PATH_PREFIXES = (
    "/v1/llm/completions-", "/v1/chat/completions", "/v1/completions", "/v2/chat/completions", "/v2/completions",
    "/v1/sync-tasks", "/v1/streaming-tasks", "/v1/async-tasks", "/v1/internal/",
)


class HotPathHandler(ASGIHandler):
    """Django's ASGI handler reduced to URL routing and async views: no middleware, no
    per-request thread context and no request_started/finished signals (whose receivers are
    sync, i.e. thread hops). Views here that touch the database use
    `endpoints.inference.http.run_db`, which manages its connections itself."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)

    _matches: dict = {}

    def resolve_request(self, request):
        """Routes without path parameters are resolved once per process and the match reused
        (walking the URL patterns costs more than the rest of the routing)."""
        path = request.path_info
        match = self._matches.get(path)
        if match is None:
            match = super().resolve_request(request)
            if not match.kwargs and not match.args and len(self._matches) < 64:
                self._matches[path] = match
        request.resolver_match = match
        return match

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            return

        async def process_request():
            response = await self.run_get_response(request)
            await self.send_response(response, send)

        # As Django does: stop working on a request whose client went away.
        work = asyncio.create_task(process_request())
        disconnect = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([work, disconnect], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (disconnect, work):
                if not task.done():
                    task.cancel()
                    try:
                        await task
                    except (asyncio.CancelledError, RequestAborted):
                        pass
            body_file.close()
        if not disconnect.cancelled():
            disconnect.exception()  # a client that went away (RequestAborted) is not an error
        if not work.cancelled() and not isinstance(work.exception(), RequestAborted):
            work.result()


hot_path_application = HotPathHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith(HOT_PATH_PREFIXES):
        return await hot_path_application(scope, receive, send)
    return await django_application(scope, receive, send)


start_inprocess_worker_if_configured()
