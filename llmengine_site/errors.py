"""Domain errors and the one exception handler that maps them to HTTP (docs/design.md#errors).

Bodies follow docs/wire-contract.md#http-conventions: `{"detail": "<message>"}` for handled errors, 422 with a
FastAPI-style list for malformed input, and `{"error", "timestamp", "request_id"}` for the
unexpected (logged with its traceback).
"""
import logging
import uuid
from datetime import datetime, timezone

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response

from llmengine_site.input_guard import BodyRefused, refused_body_detail

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(DomainError):
    """The request is well-formed but breaks a rule (400)."""


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


def error_response(exc) -> Response | None:
    """The HTTP answer for an exception raised while serving a request (None: not ours)."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.detail}, status=exc.status_code)
    if isinstance(exc, exceptions.NotAuthenticated):
        from llmengine_site.auth import NOT_AUTHENTICATED, expected_credentials

        return Response(
            {"detail": f"{NOT_AUTHENTICATED}: {expected_credentials()}"},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, exceptions.AuthenticationFailed):
        from llmengine_site.auth import AUTH_FAILED, expected_credentials

        detail = str(exc.detail)
        return Response(
            {"detail": detail if detail.startswith(AUTH_FAILED) else f"{AUTH_FAILED}: {expected_credentials()}"},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Basic"},
        )
    if isinstance(exc, exceptions.ValidationError):
        return Response({"detail": validation_detail(exc.detail)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, BodyRefused):
        return Response({"detail": refused_body_detail(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"The request body is larger than the limit: {exc}"},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, exceptions.ParseError):
        return Response(
            {"detail": [{"loc": ["body"], "msg": f"The body is not valid JSON: {exc.detail}", "type": "json_invalid"}]},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, exceptions.APIException):
        return Response({"detail": exc.detail}, status=exc.status_code)
    return None


def exception_handler(exc, context):
    """DRF's hook: domain errors and DRF errors per the contract; anything else is logged and
    answered with the contract's 500 body."""
    response = error_response(exc)
    if response is not None:
        return response
    view = context.get("view")
    logger.exception("unhandled error in %s", view.__class__.__name__ if view else "?")
    return Response(internal_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
