"""Task state reported by async endpoints' forwarders on the SQS queue backend, which hold no
Redis credential (docs/security.md#what-isolates-teams):

    POST /v1/internal/endpoints/<endpoint id>/tasks/<task id>
    Authorization: Bearer <the endpoint's report token>     (endpoints/report_tokens.py)
    {"status": "STARTED"}
    {"status": "SUCCESS" | "FAILURE", "ttl_seconds": int, "result": any JSON
     | "result_location": "s3://<bucket>/async-results/<task id>.json",
     "traceback": str | null, "status_code": int | null}

Answers 200 `{"task_id", "status"}` once stored; 401 without a token, 403 with a token that is
not this endpoint's, 404 for a task the gateway never submitted to this endpoint, 409 for
STARTED on a finished task (unchanged: the forwarder drops its message), 422 naming the field.
Writes go through `endpoints/task_results.py`, whose guarantees hold: the owner is never
touched, a finished task never goes back to STARTED. The body limit is the gateway's.
"""
from asgiref.sync import sync_to_async
from rest_framework import exceptions

from endpoints import report_tokens, task_results
from endpoints.inference.http import api, json_body, json_response
from endpoints.inference.task_views import results_client
from llmengine_site.errors import Conflict, Forbidden, ObjectNotFound, RequestShapeError

FINAL = task_results.FINAL_STATUSES
REPORTED = (task_results.STARTED, *FINAL)
MAX_TTL_SECONDS = 30 * 24 * 3600
TRACEBACK_MAX_CHARS = 64 * 1024


def _check_token(request, endpoint_id: str) -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise exceptions.NotAuthenticated()
    if not report_tokens.is_valid(endpoint_id, presented.strip()):
        raise Forbidden(f"This token may not report tasks of endpoint {endpoint_id}.")


def _error(field: str, message: str) -> RequestShapeError:
    return RequestShapeError([{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _report(body, task_id: str) -> dict:
    """The validated report; 422 naming the first bad field."""
    if not isinstance(body, dict):
        raise _error("status", "the body must be a JSON object")
    status = body.get("status")
    if status not in REPORTED:
        raise _error("status", f"must be one of {', '.join(REPORTED)}")
    if status == task_results.STARTED:
        return {"status": status}
    ttl = body.get("ttl_seconds")
    if not _is_int(ttl) or not 1 <= ttl <= MAX_TTL_SECONDS:
        raise _error("ttl_seconds", f"must be an integer from 1 to {MAX_TTL_SECONDS}")
    traceback = body.get("traceback")
    if traceback is not None and not isinstance(traceback, str):
        raise _error("traceback", "must be a string or null")
    status_code = body.get("status_code")
    if status_code is not None and not (_is_int(status_code) and 100 <= status_code <= 599):
        raise _error("status_code", "must be an HTTP status code or null")
    location = body.get("result_location")
    if location is not None and location != task_results.expected_location(task_id):
        raise _error("result_location", "must be the task's own location under async-results/ of the platform bucket")
    return {"status": status, "ttl_seconds": ttl, "result": body.get("result"), "result_location": location,
            "traceback": traceback[:TRACEBACK_MAX_CHARS] if traceback else traceback, "status_code": status_code}


def _store(endpoint_id: str, task_id: str, report: dict) -> str:
    client = results_client()
    if task_results.task_endpoint(client, task_id) != endpoint_id:
        raise ObjectNotFound(f"Endpoint {endpoint_id} has no task {task_id}.")
    if report["status"] == task_results.STARTED:
        if not task_results.record_started(client, endpoint_id, task_id):
            raise Conflict(f"Task {task_id} has finished already: {task_results.read_status(client, endpoint_id, task_id)}.")
        return task_results.STARTED
    # A large inline result goes to S3 here, as the forwarder would have done (task_results).
    task_results.record_result(
        client, endpoint_id, task_id, status=report["status"], result=report["result"],
        traceback=report["traceback"], status_code=report["status_code"], ttl_seconds=report["ttl_seconds"],
        result_location=report["result_location"])
    return report["status"]


@api
async def report_task(request, endpoint_id: str, task_id: str):
    if request.method != "POST":
        raise exceptions.MethodNotAllowed(request.method)
    _check_token(request, endpoint_id)
    report = _report(json_body(request), task_id)
    status = await sync_to_async(_store)(endpoint_id, task_id, report)
    return json_response({"task_id": task_id, "status": status})
