"""Hostile input is answered 4xx before it reaches a view or the database (docs/security.md#what-isolates-teams).

One place decides, for every route (the ASGI fast path in `asgi.py`, Django's stack through
`InputGuardMiddleware`, and every JSON body through `load_json`, which the API's parsers in
`llmengine_site/parsers.py` use):

- a body whose `Content-Length` is over the limit is refused with 413 before it is read and
  before any authentication work (JSON bodies: `DATA_UPLOAD_MAX_MEMORY_SIZE`; multipart
  uploads: `LLME_MAX_UPLOAD_BYTES` plus room for the multipart framing);
- a path holding a character PostgreSQL cannot store (NUL, lone surrogates) names nothing that
  exists: 404; such a character in a query parameter or any body field is a 422 naming it;
- JSON nested deeper than `MAX_JSON_DEPTH` is a 422, never a RecursionError.
"""
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import JsonResponse
from asgiref.sync import iscoroutinefunction, markcoroutinefunction

MAX_JSON_DEPTH = 64
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
NUL = "\x00"


def body_limit(content_type: str) -> int:
    if content_type.lower().startswith("multipart/"):
        return settings.LLME_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) or 2**63


def oversized_body(content_length: str | None, content_type: str) -> str | None:
    """The 413 message when the declared body is over the limit, else None."""
    if not content_length:
        return None
    try:
        length = int(content_length)
    except ValueError:
        return None
    limit = body_limit(content_type)
    if length > limit:
        return f"The request body ({length} bytes) is larger than the limit of {limit} bytes"
    return None


def refused_text(text: str) -> bool:
    """Whether PostgreSQL would refuse to store `text` (NUL, or not encodable as UTF-8)."""
    if NUL in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refused_query_parameter(pairs) -> str | None:
    for key, value in pairs:
        if refused_text(key) or refused_text(value):
            return key
    return None


class BodyRefused(ValueError):
    """A parsed JSON body the platform will not take: `loc` is where, `message` why."""

    def __init__(self, loc: list, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


def check_parsed(value) -> None:
    """Raise BodyRefused for nesting deeper than MAX_JSON_DEPTH or a string (key or value) the
    database refuses. Iterative: a hostile body cannot exhaust the stack here."""
    stack = [(value, ["body"], 0)]
    while stack:
        item, loc, depth = stack.pop()
        if isinstance(item, str):
            if refused_text(item):
                raise BodyRefused(loc, "must not contain NUL bytes or unpaired surrogates")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise BodyRefused(loc, f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    child_loc = [*loc, key if isinstance(key, str) else str(key)]
                    if isinstance(key, str) and refused_text(key):
                        raise BodyRefused(loc, "keys must not contain NUL bytes or unpaired surrogates")
                    stack.append((child, child_loc, depth + 1))
            else:
                stack.extend((child, [*loc, index], depth + 1) for index, child in enumerate(item))


def refused_body_detail(error: BodyRefused) -> list[dict]:
    """The 422 list for a refused body (docs/wire-contract.md#http-conventions)."""
    loc = [part.encode("utf-8", "backslashreplace").decode().replace(NUL, "\\x00") if isinstance(part, str) else part
           for part in error.loc]
    return [{"loc": loc, "msg": error.message, "type": "value_error.refused"}]


def _too_large(message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=413)


def request_refusal(request) -> JsonResponse | None:
    """The answer to a request refused before anything reads its body, else None."""
    message = oversized_body(request.META.get("CONTENT_LENGTH"), request.META.get("CONTENT_TYPE", ""))
    if message:
        return _too_large(message)
    if refused_text(request.path):
        return JsonResponse({"detail": "Not Found"}, status=404)
    name = refused_query_parameter((key, value) for key, values in request.GET.lists() for value in values)
    if name is not None:
        return JsonResponse({"detail": refused_query_detail(name)}, status=422)
    return None


def refused_query_detail(name: str) -> list[dict]:
    return refused_body_detail(BodyRefused(["query", name], "must not contain NUL bytes or unpaired surrogates"))


def asgi_refusal(scope) -> tuple[int, object] | None:
    """`(status, body)` for an ASGI request refused from its headers, path and query alone."""
    content_length = content_type = None
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            content_length = value.decode("latin-1")
        elif key == b"content-type":
            content_type = value.decode("latin-1")
    message = oversized_body(content_length, content_type or "")
    if message:
        return 413, {"detail": message}
    if refused_text(scope["path"]):
        return 404, {"detail": "Not Found"}
    query = scope.get("query_string", b"")
    if query:
        name = refused_query_parameter(parse_qsl(query.decode("latin-1"), keep_blank_values=True, errors="replace"))
        if name is not None:
            return 422, {"detail": refused_query_detail(name)}
    return None


class InputGuardMiddleware:
    """First in MIDDLEWARE: refuses hostile requests before sessions, CSRF or authentication run
    (under WSGI the body is read lazily, so an oversized body is never read)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._async_call(request)
        return request_refusal(request) or self.get_response(request)

    async def _async_call(self, request):
        return request_refusal(request) or await self.get_response(request)


def load_json(raw: bytes | str, allow_nan: bool = True):
    """Parse a JSON body and check it (`check_parsed`). Raises ValueError on invalid JSON and
    BodyRefused (a ValueError) on a body the platform refuses. The fast parser (orjson) first;
    the standard module for what it refuses (NaN when allowed, integers wider than 64 bits)."""
    import json

    import orjson

    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(raw) if allow_nan else json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:
            raise BodyRefused(["body"], f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_parsed(value)
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
