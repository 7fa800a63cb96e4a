"""Generic inference tasks on runnable-image endpoints (docs/wire-contract.md#inference-tasks):
sync, streaming and async. Every task lookup is owner-checked: another team's task id answers 404."""
import functools
import json
import time
from datetime import datetime, timezone

import redis
from asgiref.sync import sync_to_async
from django.conf import settings

from endpoints.choices import EndpointType
from endpoints.inference import demand, routing
from endpoints.inference.http import api, authenticate, json_body, json_response
from endpoints.inference.upstream import call_upstream, event_stream, open_upstream_stream, sse
from endpoints.task_results import read_task, record_submitted
from llmengine_site import ids
from llmengine_site.errors import InvalidRequest, ObjectNotFound, RequestShapeError, UpstreamFailure
from llmengine_site.infra import InfraError, queues

TASK_NOT_FOUND = "The specified task could not be found."


async def _task_route(request, caller) -> routing.Route:
    endpoint_id = request.GET.get("model_endpoint_id")
    if not endpoint_id:
        raise RequestShapeError([{"loc": ["query", "model_endpoint_id"], "msg": "field required",
                                  "type": "value_error.missing"}])
    route = await routing.route_by_id(endpoint_id)
    if route is None or not route.visible_to(caller.team_id) or route.deleting:
        raise ObjectNotFound(f"The specified endpoint {endpoint_id} could not be found.")
    return route


def _predict_request(body) -> dict:
    if not isinstance(body, dict):
        raise RequestShapeError([{"loc": ["body"], "msg": "The request body must be a JSON object", "type": "type_error"}])
    errors = []
    timeout = body.get("timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        errors.append({"loc": ["body", "timeout_seconds"], "msg": "must be a number greater than 0", "type": "value_error"})
    path = body.get("destination_path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        errors.append({"loc": ["body", "destination_path"], "msg": "must be a path starting with /", "type": "value_error"})
    if errors:
        raise RequestShapeError(errors)
    return body


def _path(route, body: dict, default: str | None) -> str:
    return body.get("destination_path") or default or route.predict_route


@api
async def sync_task(request):
    caller = await authenticate(request)
    route = await _task_route(request, caller)
    body = _predict_request(json_body(request))
    if route.endpoint_type == EndpointType.ASYNC:
        raise InvalidRequest(f"Unsupported inference type: {route.name} is async; use /v1/async-tasks")
    status, payload = await call_upstream(route, route.base_url + _path(route, body, route.predict_route),
                                          body.get("args"), deadline_seconds=float(body.get("timeout_seconds") or 10.0))
    if status == 200:
        return json_response({"status": "SUCCESS", "result": {"result": json.dumps(payload)}, "traceback": None,
                              "status_code": 200})
    if status == 400:
        raise InvalidRequest(payload)
    traceback = payload if isinstance(payload, str) else json.dumps(payload)
    return json_response({"status": "FAILURE", "result": None, "traceback": traceback, "status_code": status})


def _task_error(status: int, payload):
    if status == 400:
        raise InvalidRequest(payload)
    raise UpstreamFailure(status if status >= 500 else 500, str(payload))


@api
async def streaming_task(request):
    caller = await authenticate(request)
    route = await _task_route(request, caller)
    body = _predict_request(json_body(request))
    if route.endpoint_type != EndpointType.STREAMING:
        raise InvalidRequest(f"Unsupported inference type: {route.name} is {route.endpoint_type}, not streaming")
    upstream = await open_upstream_stream(route, route.base_url + _path(route, body, route.stream_route),
                                          body.get("args"), deadline_seconds=float(body.get("timeout_seconds") or 10.0),
                                          on_error=_task_error)

    async def events():
        try:
            async for data in upstream.events():
                try:
                    chunk = json.loads(data)
                except ValueError:
                    chunk = data
                yield sse({"status": "SUCCESS", "result": {"result": chunk}, "traceback": None, "status_code": 200})
        except Exception as exc:
            yield sse({"status": "FAILURE", "result": None, "traceback": f"upstream stream broke: {exc}", "status_code": 500})
        finally:
            await upstream.close()
            await demand.end(route.id)

    return event_stream(events())


@functools.lru_cache(maxsize=4)
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def results_client() -> redis.Redis:
    """The process's pooled client of the task-result store (thread-safe)."""
    if not settings.REDIS_URL:
        raise InvalidRequest("Async tasks need Redis: set REDIS_URL")
    return _redis_for(settings.REDIS_URL)


def _submit(route, caller, body: dict) -> str:
    task_id = ids.task_id()
    expires = route.task_expires_seconds
    record_submitted(results_client(), task_id, caller.team_id, expires, route.id)
    message = {
        "task_id": task_id,
        "owner": caller.team_id,
        "payload": {key: body.get(key) for key in ("args", "url", "callback_url", "callback_auth", "return_pickled",
                                                    "destination_path")},
        "submitted_at": datetime.now(timezone.utc).isoformat(),
        "expires_at": time.time() + expires,
    }
    queues.send_message(route.id, json.dumps(message))
    return task_id


@api
async def create_async_task(request):
    caller = await authenticate(request)
    route = await _task_route(request, caller)
    body = _predict_request(json_body(request))
    if route.endpoint_type != EndpointType.ASYNC:
        raise InvalidRequest(f"Unsupported inference type: {route.name} is {route.endpoint_type}; use /v1/sync-tasks")
    try:
        task_id = await sync_to_async(_submit)(route, caller, body)
    except InfraError as exc:
        if exc.transient:
            raise UpstreamFailure(503, f"The task queue is temporarily unavailable: {exc}. Retry.")
        raise InvalidRequest(f"Invalid request: {exc}")
    return json_response({"task_id": task_id})


def _read(task_id: str):
    return read_task(results_client(), task_id)


@api
async def get_async_task(request, task_id: str):
    caller = await authenticate(request)
    task = await sync_to_async(_read)(task_id)
    if task is None or task.get("owner") != caller.team_id:
        raise ObjectNotFound(TASK_NOT_FOUND)
    result = task.get("result")
    if task.get("status") == "SUCCESS" and not (isinstance(result, dict) and "result_url" in result):
        result = {"result": json.dumps(result)}
    return json_response({"task_id": task_id, "status": task.get("status", "UNDEFINED"), "result": result,
                          "traceback": task.get("traceback"), "status_code": task.get("status_code")})
