"""Calling an endpoint from the inference views, and relaying its stream as server-sent events
(docs/wire-contract.md#server-sent-events): shared by the LLM routes (`views.py`) and the
generic task routes (`task_views.py`)."""
from django.http import StreamingHttpResponse

from endpoints.inference import demand, jsonio
from endpoints.inference.readiness import Readiness
from endpoints.inference.transport import open_stream, post_json


async def call_upstream(route, url: str, body, *, deadline_seconds: float):
    """POST to the endpoint with the request counted as demand, waiting (retrying) only while
    something that could answer is on its way (see `readiness`)."""
    readiness = Readiness(route)
    await readiness.before_first_attempt()
    await demand.begin(route.id)
    try:
        return await post_json(url, body, deadline_seconds=deadline_seconds, readiness=readiness)
    finally:
        await demand.end(route.id)


def sse(payload: dict) -> bytes:
    return b"data: " + jsonio.dumps(payload) + b"\n\n"


def event_stream(generator) -> StreamingHttpResponse:
    response = StreamingHttpResponse(generator, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def open_upstream_stream(route, url: str, body, *, deadline_seconds: float, on_error):
    """Open an upstream stream with the request counted as demand. A non-200 answer is read and
    handed to `on_error(status, payload)`, which raises; demand is released on any failure (on
    success the caller's event generator releases it when the stream ends). Waits (retries) only
    while something that could answer is on its way (see `readiness`)."""
    readiness = Readiness(route)
    await readiness.before_first_attempt()
    await demand.begin(route.id)
    try:
        upstream = await open_stream(url, body, deadline_seconds=deadline_seconds, readiness=readiness)
        if upstream.status != 200:
            payload = await upstream.body()
            await upstream.close()
            on_error(upstream.status, payload)
        return upstream
    except BaseException:
        await demand.end(route.id)
        raise
