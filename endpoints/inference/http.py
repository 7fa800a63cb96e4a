"""Plumbing shared by the async inference views: JSON answers, the caller, errors.

These views run outside DRF (for speed on the hot path) but answer exactly as the DRF views
do: the same error bodies from `llmengine_site.errors`, the same identity rules."""
import functools
import logging
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from endpoints.inference import jsonio
from llmengine_site import input_guard
from llmengine_site.auth import Caller, cached_caller, caller_for_credential, credential_from_header, failure_detail
from llmengine_site.errors import RequestShapeError, error_answer, internal_error_body

logger = logging.getLogger(__name__)


async def run_db(function, *args):
    """Run `function` (which uses the database) in the sync thread, with fresh connections:
    the hot-path handler sends no request signals, so connections are checked here."""
    def call():
        close_old_connections()
        try:
            return function(*args)
        finally:
            close_old_connections()

    return await sync_to_async(call)()


async def _resolve_caller(credential: str) -> Caller | None:
    return await run_db(caller_for_credential, credential)


def json_response(body, status: int = 200, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(jsonio.dumps(body), content_type="application/json", status=status, headers=headers)


async def authenticate(request) -> Caller:
    """The caller, by the same rules as the DRF views; raises DRF's auth exceptions."""
    header = request.headers.get("Authorization", "")
    credential = credential_from_header(header) if header else None
    if credential is None:
        raise exceptions.NotAuthenticated()
    if settings.LLME_AUTH_MODE == "trust-username":
        caller = caller_for_credential(credential)  # no I/O in this mode
    else:
        # In-process, dropped when a key is revoked anywhere (docs/security.md#api-keys).
        caller = await cached_caller(credential, _resolve_caller)
    if caller is None:
        raise exceptions.AuthenticationFailed(await run_db(failure_detail, header))
    return caller


def json_body(request):
    """The parsed JSON body; a 422 naming the problem when it is not JSON."""
    try:
        return input_guard.load_json(request.body or b"null")
    except input_guard.BodyRefused as exc:
        raise RequestShapeError(input_guard.refused_body_detail(exc))
    except ValueError as exc:
        raise RequestShapeError([{"loc": ["body"], "msg": f"The body is not valid JSON: {exc}", "type": "json_invalid"}])


def api(view):
    """Async view wrapper: CSRF-exempt (credentials are headers, not cookies), errors rendered
    by the project's one error mapping, unexpected errors logged with a request id."""

    @csrf_exempt
    @functools.wraps(view)
    async def wrapper(request, *args, **kwargs):
        try:
            return await view(request, *args, **kwargs)
        except Exception as exc:  # one place maps every error to the contract's bodies
            answer = error_answer(exc)
            if answer is None:
                request_id = str(uuid.uuid4())
                logger.exception("unhandled error in %s (request %s)", view.__name__, request_id)
                return json_response(internal_error_body(request_id), status=500)
            status, body, headers = answer
            return json_response(body, status=status, headers=headers)

    return wrapper
