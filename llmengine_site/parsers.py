"""The API's request parsers: DRF's JSON and multipart parsers behind the input guard
(llmengine_site/input_guard.py), so no body reaches a view with a RecursionError waiting in it
or a string the database refuses. Kept apart from the guard, which must import without Django's
settings (the batch runner uses it in a pod with no control-plane configuration)."""
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser

from llmengine_site.input_guard import BodyRefused, load_json, refused_text


class GuardedJSONParser(JSONParser):
    """DRF's JSON parser through `load_json`: no RecursionError, no NUL reaching the database."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        if not raw:
            raise ParseError("the body is empty")
        try:
            return load_json(raw.decode(encoding) if encoding.lower() not in ("utf-8", "utf8") else raw, allow_nan=False)
        except BodyRefused:
            raise
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(str(exc)) from exc


class GuardedMultiPartParser(MultiPartParser):
    """Multipart forms: form fields and file names the database refuses are a 422."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        for key, values in parsed.data.lists():
            for value in values:
                if refused_text(key) or refused_text(value):
                    raise BodyRefused(["body", key], "must not contain NUL bytes or unpaired surrogates")
        for key, files in parsed.files.lists():
            for upload in files:
                if refused_text(key) or refused_text(upload.name or ""):
                    raise BodyRefused(["body", key], "file names must not contain NUL bytes or unpaired surrogates")
        return parsed
