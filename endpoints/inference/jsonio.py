"""JSON on the inference hot path: orjson (a C library, several times faster than the standard
module both ways), falling back to the standard module for what orjson refuses: integers wider
than 64 bits and lazy strings when encoding, NaN/Infinity when decoding. (orjson decodes an
integer wider than 64 bits as a float.)"""
import json

import orjson
from django.core.serializers.json import DjangoJSONEncoder


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


def loads(raw: bytes | str):
    """Raises ValueError (with the standard module's message) on invalid JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
