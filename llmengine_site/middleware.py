"""WhiteNoise for static files without making every request pay for it.

WhiteNoise's middleware is sync-only: placed in the stack it makes Django hop between threads
on every request of the async hot path. This middleware is async-capable and hands only
requests under STATIC_URL to WhiteNoise."""
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import Http404
from whitenoise.middleware import WhiteNoiseMiddleware


def _not_found(request):
    raise Http404("no such static file")


class StaticFilesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        self.whitenoise = WhiteNoiseMiddleware(_not_found)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._async_call(request)
        if request.path_info.startswith(self.static_prefix):
            return self.whitenoise(request)
        return self.get_response(request)

    async def _async_call(self, request):
        if request.path_info.startswith(self.static_prefix):
            return await sync_to_async(self.whitenoise)(request)
        return await self.get_response(request)
