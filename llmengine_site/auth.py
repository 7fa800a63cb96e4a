"""Who is calling (docs/design.md#identity-and-ownership).

The credential is the HTTP Basic username (password ignored) or a Bearer token, as the
official client sends it. In `trust-username` mode the credential *is* the user and team id;
in `api-key` mode it must be a key issued by `manage.py create_api_key` or the admin.

Keys are resolved through two caches (docs/security.md#api-keys): the shared cache (Redis, 30 s)
and, on the inference hot path, an in-process map (10 s) that needs no I/O at all. Revoking a key
deletes its shared entry and moves the *revocation epoch*, a value in the shared cache; every
gateway process reads the epoch at most every REVOCATION_CHECK_SECONDS and drops its in-process
map when it moved, so a revoked key stops working on every worker within a second without a
database query per request. Entries of either cache written under an older epoch are not
believed, which closes the race of a lookup that read the key just before it was revoked.
"""
import base64
import binascii
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from llmengine_site.errors import AUTH_FAILED, NOT_AUTHENTICATED, expected_credentials
from llmengine_site.models import ApiKey, hash_key
from llmengine_site.timed_entries import MISSING, TimedEntries
from llmengine_site.transient import best_effort, log_skipped

logger = logging.getLogger(__name__)

MAX_CREDENTIAL_LENGTH = 255
API_KEY_CACHE_SECONDS = 30
LAST_USED_RESOLUTION_SECONDS = 300
# The hot path's in-process map: entries live this long unless the revocation epoch moves.
CALLER_TTL_SECONDS = 10.0
MAX_CACHED_CALLERS = 10_000
# How often a gateway process reads the revocation epoch (well under the promised second).
REVOCATION_CHECK_SECONDS = 0.5
REVOCATION_EPOCH_KEY = "apikey:revocation-epoch"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: `user_id` is `created_by`, `team_id` is `owner` of what it creates."""

    user_id: str
    team_id: str
    api_key_id: int | None = None
    is_authenticated: bool = True


def credential_from_header(header: str) -> str | None:
    """The credential in an `Authorization` header, or None when there is none.

    Raises AuthenticationFailed for a malformed Basic header.
    """
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed(
                f"{AUTH_FAILED}: the Basic credentials are not valid base64 of `username:password`; "
                f"{expected_credentials()}") from exc
        username, _, _password = decoded.partition(":")
        return username
    return None


def _basic_parts(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password


def failure_detail(header: str) -> str:
    """The 401 detail for credentials that were refused: what was wrong, what is expected. May
    read the database (to tell a key sent in the password field); runs only on a refusal."""
    expected = expected_credentials()
    parts = _basic_parts(header)
    if parts is None and header.strip().lower().startswith("basic"):
        return f"{AUTH_FAILED}: the Basic credentials are not valid base64 of `username:password`; {expected}"
    username, password = parts or (credential_from_header(header) or "", "")
    if settings.LLME_AUTH_MODE == "trust-username":
        problem = "the username is empty" if not username else "the username is longer than 255 characters"
        return f"{AUTH_FAILED}: {problem}; {expected}"
    if password and len(password) <= MAX_CREDENTIAL_LENGTH and _caller_for_api_key(password) is not None:
        return (f"{AUTH_FAILED}: the API key was sent as the password; put it in the username "
                f"(`-u <key>:`), the password is ignored; {expected}")
    if not username:
        return f"{AUTH_FAILED}: no API key was given (the username is empty); {expected}"
    return f"{AUTH_FAILED}: the credential is not a valid API key (or it was revoked); {expected}"


def caller_for_credential(credential: str) -> Caller | None:
    """Resolve a credential to a Caller under the configured mode; None when it is not valid."""
    if not credential or len(credential) > MAX_CREDENTIAL_LENGTH:
        return None
    if settings.LLME_AUTH_MODE == "trust-username":
        return Caller(user_id=credential, team_id=credential)
    return _caller_for_api_key(credential)


def _cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def _caller_for_api_key(raw_key: str) -> Caller | None:
    key_hash = hash_key(raw_key)
    entry_key = _cache_key(key_hash)
    # The shared cache only saves a query: when it is down the database answers
    # (docs/operations.md#when-redis-or-kubernetes-is-down).
    found = best_effort("api key cache read", cache.get_many, [entry_key, REVOCATION_EPOCH_KEY]) or {}
    epoch = found.get(REVOCATION_EPOCH_KEY)
    cached = found.get(entry_key)
    # An entry is (epoch, caller fields); one written under another epoch may predate a revoke.
    if isinstance(cached, (list, tuple)) and len(cached) == 2 and cached[0] == epoch:
        return Caller(*cached[1]) if cached[1] else None
    key = ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if key is None:
        best_effort("api key cache write", cache.set, entry_key, (epoch, ()), API_KEY_CACHE_SECONDS)
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    best_effort("api key cache write", cache.set, entry_key, (epoch, (key.user_id, key.team_id, key.pk)),
                API_KEY_CACHE_SECONDS)
    return Caller(key.user_id, key.team_id, key.pk)


def forget_api_key(key_hash: str) -> None:
    """Make a revoked key stop working at once: its shared entry goes, the revocation epoch
    moves (every gateway process drops its in-process map within REVOCATION_CHECK_SECONDS) and
    this process's map is dropped now. Call it after the revocation is committed.

    With Redis unreachable this process still drops its map and the other workers, which cannot
    read the epoch either, drop theirs on every check and ask the database; only a shared entry
    that outlives the outage (at most API_KEY_CACHE_SECONDS) is left
    (docs/security.md#api-keys)."""
    _local_callers.clear()
    best_effort("api key revocation in the shared cache", cache.delete, _cache_key(key_hash))
    best_effort("api key revocation epoch", cache.set, REVOCATION_EPOCH_KEY, secrets.token_hex(8), None)


class _LocalCallers:
    """The hot path's in-process map credential -> Caller (or None for a refused credential)."""

    def __init__(self):
        self.entries = TimedEntries(MAX_CACHED_CALLERS)
        self.generation = 0  # moves on every clear: a lookup begun before it is not stored
        self.epoch = None
        self.next_check = 0.0
        self.unreadable = False

    def clear(self) -> None:
        self.entries.clear()
        self.generation += 1

    async def _follow_revocations(self, now: float) -> None:
        if now < self.next_check:
            return
        self.next_check = now + REVOCATION_CHECK_SECONDS  # one reader at a time per process
        try:
            epoch = await cache.aget(REVOCATION_EPOCH_KEY)
        except Exception as exc:  # the shared cache is down: trust nothing cached
            if not self.unreadable:  # one line per outage, not one per check
                log_skipped("api key revocation epoch read (cached callers dropped until it is back)", exc)
            self.unreadable = True
            self.clear()
            return
        self.unreadable = False
        if epoch != self.epoch:
            self.epoch = epoch
            self.clear()

    async def caller(self, credential: str, resolve) -> Caller | None:
        """The caller of `credential`; `resolve` (async, may query the database) on a miss."""
        now = time.monotonic()
        await self._follow_revocations(now)
        hit = self.entries.fresh(credential, now)
        if hit is not MISSING:
            return hit
        generation = self.generation
        caller = await resolve(credential)
        if generation == self.generation:
            self.entries.remember(credential, caller, now + CALLER_TTL_SECONDS)
        return caller


_local_callers = _LocalCallers()


async def cached_caller(credential: str, resolve) -> Caller | None:
    """The hot path's caller lookup: no I/O while the credential is in the in-process map and
    the revocation epoch has not moved (docs/security.md#api-keys)."""
    return await _local_callers.caller(credential, resolve)


class CredentialAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        credential = credential_from_header(header)
        if credential is None:
            return None
        caller = caller_for_credential(credential)
        if caller is None:
            raise exceptions.AuthenticationFailed(failure_detail(header))
        return caller, credential

    def authenticate_header(self, request):
        return "Bearer"


class IsAuthenticatedCaller(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, Caller)
