"""How the shared cache stores values in Redis: signed JSON, never pickle.

Whoever can write to Redis must not be able to run code in the gateway (pickle executes on
load) nor forge a cached value (an API-key entry decides who the caller is). Values are JSON
(django-redis's encoder: dates become ISO text, tuples lists) behind an HMAC-SHA256 keyed by
`SECRET_KEY`. A value that is not ours (bad signature, not JSON, a pickle) reads as a miss and
is logged, so the caller recomputes it from the database.
"""
import hashlib
import hmac
import json
import logging

from django.conf import settings
from django_redis.serializers.json import JSONSerializer

log = logging.getLogger(__name__)

SEPARATOR = b"."
_MAC_LENGTH = 64  # hex digest of SHA-256


class SignedJSONSerializer(JSONSerializer):
    def __init__(self, options):
        super().__init__(options)
        self._key = hashlib.sha256(b"llme.cache-signature:" + settings.SECRET_KEY.encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode()

    def dumps(self, value) -> bytes:
        payload = super().dumps(value)
        return self._mac(payload) + SEPARATOR + payload

    def loads(self, value: bytes):
        mac, separator, payload = bytes(value).partition(SEPARATOR)
        if len(mac) != _MAC_LENGTH or not separator or not hmac.compare_digest(mac, self._mac(payload)):
            log.warning("ignored a cache value without a valid signature (%d bytes)", len(value))
            return None
        try:
            return json.loads(payload)
        except ValueError:
            log.warning("ignored a signed cache value that is not JSON")
            return None
