"""Domain errors and the one exception handler that maps them to HTTP (docs/design.md#errors).

Bodies follow docs/wire-contract.md#http-conventions: `{"detail": "<message>"}` for handled errors, 422 with a
FastAPI-style list for malformed input, and `{"error", "timestamp", "request_id"}` for the
unexpected (logged with its traceback).
"""
import logging
import uuid
from datetime import datetime, timezone

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response

from llmengine_site.input_guard import BodyRefused, refused_body_detail

logger = logging.getLogger(__name__)

AUTH_FAILED = "Could not authenticate user"
NOT_AUTHENTICATED = "No authentication was passed in"


def expected_credentials() -> str:
    """What this gateway expects, in the words a 401 uses (docs/security.md). Settings are read
    when an answer needs them: the batch runner imports this module without Django."""
    if settings.LLME_AUTH_MODE == "trust-username":
        return ("this gateway runs in trust-username mode: the HTTP Basic username (e.g. `-u test-user-id:`) "
                "or the Bearer token is your user id (1 to 255 characters); the password is ignored")
    return ("this gateway runs in api-key mode: send an API key (issued in the console or by "
            "`manage.py create_api_key`) as the HTTP Basic username (`-u <key>:`, password empty) "
            "or as a Bearer token (`Authorization: Bearer <key>`)")


class DomainError(Exception):
    """A rule of the domain said no: answered with `status_code` and `{"detail": detail}`."""

    status_code = status.HTTP_400_BAD_REQUEST
    headers: dict | None = None

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(DomainError):
    """The request is well-formed but breaks a rule (400). `field`, when given, is the request
    field the rule is about and `message` the rule without it (the detail is "field: message"),
    so a form or serializer can put the error on its field without reading the text."""

    def __init__(self, detail, *, field: str | None = None):
        super().__init__(f"{field}: {detail}" if field else detail)
        self.field = field
        self.message = detail


class ObjectNotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT


class Gone(DomainError):
    status_code = status.HTTP_410_GONE


class UpstreamUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


class TooManyRequests(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS


class InfraError(DomainError):
    """A Kubernetes, SQS, S3 or registry call failed.

    `transient=True` means the same call may succeed later (5xx, 429, timeouts, connection
    resets, throttling): actors retry it with backoff, and a request that meets it is answered
    503. `transient=False` means retrying will not help (bad request, missing permissions, no
    cluster configured): the row records `message`, which is written for a person and says what
    to do next, and a request is answered 409 when the outside system's state refuses it (the
    object is missing or conflicts: `status` 404 or 409), else 400 (docs/design.md#errors).
    """

    def __init__(self, message: str, *, transient: bool, status: int | None = None):
        super().__init__(f"{message.rstrip('.')}. Retry later." if transient else message)
        self.message = message
        self.transient = transient
        self.status = status

    @property
    def status_code(self) -> int:
        if self.transient:
            return 503
        return 409 if self.status in (404, 409) else 400

    def __str__(self) -> str:
        return self.message


class UpstreamFailure(DomainError):
    """The inference path got no usable answer from the endpoint before its deadline (or the
    endpoint failed): answered with `status` (429, 500 or 503) and `{"detail": detail}`
    (docs/wire-contract.md#http-conventions)."""

    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.headers = headers

    @property
    def status_code(self) -> int:
        return self.status


class RequestShapeError(Exception):
    """A field has the wrong type or range: answered 422 with `errors`, FastAPI's list of
    `{"loc", "msg", "type"}` naming the fields (docs/wire-contract.md#http-conventions)."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.errors = errors


def validation_detail(errors, loc=("body",)) -> list[dict]:
    """DRF's nested error dict → FastAPI's list of `{"loc", "msg", "type"}`
    (docs/wire-contract.md#http-conventions)."""
    items: list[dict] = []
    if isinstance(errors, dict):
        for field, value in errors.items():
            field_loc = loc if field == "non_field_errors" else (*loc, field)
            items.extend(validation_detail(value, field_loc))
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, (dict, list)):
                items.extend(validation_detail(value, (*loc, index)))
            else:
                items.append(_item(loc, value))
    else:
        items.append(_item(loc, errors))
    return items


def _item(loc, message) -> dict:
    code = getattr(message, "code", "invalid") or "invalid"
    return {"loc": list(loc), "msg": str(message), "type": f"value_error.{code}"}


def internal_error_body(request_id: str | None = None) -> dict:
    return {
        "error": "Internal error occurred. Our team has been notified.",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "request_id": request_id or str(uuid.uuid4()),
    }


def error_answer(exc) -> tuple[int, object, dict | None] | None:
    """(status, body, headers) of the HTTP answer for an exception raised while serving a
    request; None when it is not ours (the caller logs it and answers 500). The one mapping:
    the DRF views (`exception_handler`) and the inference views (`endpoints/inference/http.py`)
    both answer from it."""
    if isinstance(exc, DomainError):
        return exc.status_code, {"detail": exc.detail}, exc.headers
    if isinstance(exc, RequestShapeError):
        return 422, {"detail": exc.errors}, None
    if isinstance(exc, exceptions.NotAuthenticated):
        return 401, {"detail": f"{NOT_AUTHENTICATED}: {expected_credentials()}"}, {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, exceptions.AuthenticationFailed):
        detail = str(exc.detail)
        detail = detail if detail.startswith(AUTH_FAILED) else f"{AUTH_FAILED}: {expected_credentials()}"
        return 401, {"detail": detail}, {"WWW-Authenticate": "Basic"}
    if isinstance(exc, exceptions.ValidationError):
        return 422, {"detail": validation_detail(exc.detail)}, None
    if isinstance(exc, BodyRefused):
        return 422, {"detail": refused_body_detail(exc)}, None
    if isinstance(exc, RequestDataTooBig):
        return 413, {"detail": f"The request body is larger than the limit: {exc}"}, None
    if isinstance(exc, exceptions.ParseError):
        return 422, {"detail": [{"loc": ["body"], "msg": f"The body is not valid JSON: {exc.detail}",
                                 "type": "json_invalid"}]}, None
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, {"detail": exc.detail}, None
    return None


def error_response(exc) -> Response | None:
    """`error_answer` as a DRF response (None: not ours)."""
    answer = error_answer(exc)
    if answer is None:
        return None
    status_code, body, headers = answer
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc, context):
    """DRF's hook: domain errors and DRF errors per the contract; anything else is logged and
    answered with the contract's 500 body."""
    response = error_response(exc)
    if response is not None:
        return response
    view = context.get("view")
    logger.exception("unhandled error in %s", view.__class__.__name__ if view else "?")
    return Response(internal_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
