"""The inference routes (the hot path): v1 LLM completions, OpenAI-compatible routes, and
generic sync/streaming/async tasks. Async views; no database query per request."""
import time
import uuid
from datetime import datetime, timezone

from django.conf import settings

from endpoints.choices import EndpointStatus, EndpointType, InferenceFramework
from endpoints.frameworks import completions as v1
from endpoints.inference import demand, jsonio, routing
from endpoints.inference.http import api, authenticate, json_body, json_response, run_db
from endpoints.inference.upstream import call_upstream, event_stream, open_upstream_stream, sse
from endpoints.selectors import llm_endpoints_visible_to
from llmengine_site.errors import Gone, InvalidRequest, ObjectNotFound, RequestShapeError, UpstreamFailure

OPENAI_FRAMEWORKS = (InferenceFramework.VLLM, InferenceFramework.SGLANG)
def endpoint_not_found(name: str) -> ObjectNotFound:
    return ObjectNotFound(f"The specified endpoint {name} could not be found.")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _overhead_header(started: float, upstream_seconds: float) -> dict:
    return {"x-llm-engine-overhead-ms": f"{max(0.0, (time.perf_counter() - started - upstream_seconds) * 1000):.2f}"}


async def _llm_route_for(caller, name: str | None) -> routing.Route:
    if not name:
        raise RequestShapeError([{"loc": ["query", "model_endpoint_name"], "msg": "field required",
                                     "type": "value_error.missing"}])
    route = await routing.llm_route(name)
    if route is None or not route.visible_to(caller.team_id) or route.deleting:
        raise endpoint_not_found(name)
    return route


def _upstream_error(status: int, payload, request_id: str):
    if v1.is_validation_error(status, payload):
        raise InvalidRequest(payload.get("error", payload) if isinstance(payload, dict) else payload)
    raise UpstreamFailure(500, f"Upstream service error for request_id {request_id}")


# ----------------------------------------------------------------------------- v1 completions


@api
async def completions_sync(request):
    started = time.perf_counter()
    caller = await authenticate(request)
    route = await _llm_route_for(caller, request.GET.get("model_endpoint_name"))
    body = json_body(request)
    if route.endpoint_type == EndpointType.ASYNC:
        raise InvalidRequest(f"Unsupported inference type: completions need a sync or streaming endpoint, {route.name} is async")
    if isinstance(body, dict) and isinstance(body.get("prompts"), list):
        return await _legacy_completions(route, body, started)
    completion = v1.parse_completion(body)
    v1.check_for_framework(completion, route.framework)
    request_id = str(uuid.uuid4())
    status, payload, upstream_seconds = await _call(route, route.predict_route, completion, stream=False)
    if status != 200:
        _upstream_error(status, payload, request_id)
    output = v1.sync_output(payload, route.framework, completion)
    return json_response({"request_id": request_id, "output": output}, headers=_overhead_header(started, upstream_seconds))


async def _call(route, path: str, completion, *, stream: bool):
    upstream_started = time.perf_counter()
    status, payload = await call_upstream(
        route, route.base_url + path, v1.framework_request(completion, route.framework, route.served_model, stream=stream),
        deadline_seconds=settings.LLME_INFERENCE_DEADLINE_SECONDS,
    )
    return status, payload, time.perf_counter() - upstream_started


async def _legacy_completions(route, body: dict, started: float):
    """The self-hosting guide's older shape: `{"prompts": [...], "max_new_tokens", "temperature"}`
    answered as `{"status", "outputs": [{"text", "num_completion_tokens"}], "traceback"}`."""
    outputs, upstream_total = [], 0.0
    for prompt in body["prompts"]:
        completion = v1.parse_completion({**body, "prompt": prompt, "prompts": None})
        v1.check_for_framework(completion, route.framework)
        status, payload, upstream_seconds = await _call(route, route.predict_route, completion, stream=False)
        upstream_total += upstream_seconds
        if status != 200:
            _upstream_error(status, payload, str(uuid.uuid4()))
        output = v1.sync_output(payload, route.framework, completion)
        outputs.append({"text": output["text"], "num_completion_tokens": output["num_completion_tokens"]})
    return json_response({"status": "SUCCESS", "outputs": outputs, "traceback": None},
                         headers=_overhead_header(started, upstream_total))


def _stream_error(request_id: str, status: int, message: str) -> bytes:
    return sse({"request_id": request_id, "output": None,
                 "error": {"status_code": status, "content": {"error": message, "timestamp": _now_iso()}}})


@api
async def completions_stream(request):
    caller = await authenticate(request)
    route = await _llm_route_for(caller, request.GET.get("model_endpoint_name"))
    completion = v1.parse_completion(json_body(request))
    if route.endpoint_type != EndpointType.STREAMING:
        raise InvalidRequest(f"Unsupported inference type: {route.name} is a {route.endpoint_type} endpoint, not streaming")
    v1.check_for_framework(completion, route.framework)
    request_id = str(uuid.uuid4())
    upstream = await open_upstream_stream(
        route, route.base_url + (route.stream_route or route.predict_route),
        v1.framework_request(completion, route.framework, route.served_model, stream=True),
        deadline_seconds=settings.LLME_INFERENCE_DEADLINE_SECONDS,
        on_error=lambda status, payload: _upstream_error(status, payload, request_id),
    )

    async def events():
        state = v1.StreamState()
        finished = route.framework == InferenceFramework.TENSORRT_LLM  # Triton never says "finished"
        try:
            async for data in upstream.events():
                output = v1.stream_output(jsonio.loads(data), route.framework, completion, state)
                if output is not None:
                    finished = finished or output["finished"]
                    yield sse({"request_id": request_id, "output": output, "error": None})
            if not finished:  # the connection closed before the last token: the server died
                yield _stream_error(request_id, 500, f"Upstream service error for request_id {request_id}: "
                                                     "the model server closed the stream before it finished")
        except Exception:  # the model server died or sent garbage after the first byte
            yield _stream_error(request_id, 500, f"Upstream service error for request_id {request_id}")
        finally:
            await upstream.close()
            await demand.end(route.id)

    return event_stream(events())


# ----------------------------------------------------------------------------- OpenAI-compatible


async def _openai_route(caller, body, *, chat: bool) -> routing.Route:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise RequestShapeError([{"loc": ["body", "model"], "msg": "field required (the endpoint name)",
                                     "type": "value_error.missing"}])
    route = await routing.llm_route(body["model"])
    if route is None or not route.visible_to(caller.team_id) or route.deleting:
        raise endpoint_not_found(body["model"])
    if route.framework not in OPENAI_FRAMEWORKS:
        raise InvalidRequest(f"Endpoint {route.name} runs {route.framework}; OpenAI-compatible routes need vllm or "
                             "sglang (it is not listed by /v1/models; use /v1/llm/completions-sync or -stream)")
    if chat and route.max_workers == 0:
        raise Gone(f"The endpoint {route.name} is deprecated. max_workers is 0.")
    return route


def _openai_proxy(path: str, *, chat: bool):
    @api
    async def view(request):
        started = time.perf_counter()
        caller = await authenticate(request)
        body = json_body(request)
        route = await _openai_route(caller, body, chat=chat)
        upstream_body = {key: value for key, value in body.items() if value is not None}
        upstream_body["model"] = route.served_model
        if body.get("stream"):
            return await _openai_stream(route, path, upstream_body)
        upstream_started = time.perf_counter()
        status, payload = await call_upstream(route, route.base_url + path, upstream_body,
                                              deadline_seconds=settings.LLME_INFERENCE_DEADLINE_SECONDS)
        upstream_seconds = time.perf_counter() - upstream_started
        if status != 200:
            _openai_error(status, payload)
        if isinstance(payload, dict):
            payload["model"] = route.name
        return json_response(payload, headers=_overhead_header(started, upstream_seconds))

    view.__name__ = f"openai_{'chat' if chat else 'completions'}"
    return view


def _openai_error(status: int, payload):
    if 400 <= status < 500:
        raise InvalidRequest(payload)
    raise UpstreamFailure(500, f"Upstream service error for request_id {uuid.uuid4()}")


async def _openai_stream(route, path: str, upstream_body: dict):
    upstream = await open_upstream_stream(route, route.base_url + path, upstream_body,
                                          deadline_seconds=settings.LLME_INFERENCE_DEADLINE_SECONDS,
                                          on_error=_openai_error)

    async def events():
        try:
            async for data in upstream.events():
                chunk = jsonio.loads(data)
                if isinstance(chunk, dict):
                    chunk["model"] = route.name
                yield sse({k: v for k, v in chunk.items() if v is not None} if isinstance(chunk, dict) else chunk)
        except Exception:
            yield sse({"error": {"status_code": 500, "content": {"error": "Upstream service error", "timestamp": _now_iso()}}})
        finally:
            await upstream.close()
            await demand.end(route.id)

    return event_stream(events())


chat_completions = _openai_proxy("/v1/chat/completions", chat=True)
openai_completions = _openai_proxy("/v1/completions", chat=False)


def _visible_llm_endpoints(caller):
    """The models the OpenAI-compatible routes serve, and only those (`_openai_route` refuses
    other frameworks, deprecated endpoints and endpoints being deleted)."""
    servable = (llm_endpoints_visible_to(caller).select_related(None)
                .filter(inference_framework__in=OPENAI_FRAMEWORKS, max_workers__gt=0)
                .exclude(status=EndpointStatus.DELETE_IN_PROGRESS))
    return [
        {"id": e.name, "object": "model", "created": int(e.created_at.timestamp()), "owned_by": e.owner}
        for e in servable.only("name", "created_at", "owner")
    ]


@api
async def list_models(request):
    caller = await authenticate(request)
    return json_response({"object": "list", "data": await run_db(_visible_llm_endpoints, caller)})


# ----------------------------------------------------------------------------- autoscaling signal


@api
async def autoscaling_metrics(request, endpoint_id: str):
    """What KEDA's metrics-api trigger reads: requests in flight (or waiting) for the endpoint.
    Unauthenticated on purpose (KEDA calls it from inside the cluster); it reveals a count only."""
    return json_response({"in_flight": await demand.in_flight(endpoint_id)})
