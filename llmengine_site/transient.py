"""Which failures are expected and pass by themselves: a cluster or AWS call that may succeed
later, Redis or the database unreachable for a while. Code that carries on after one (the cacher,
after-commit hooks, the actor's retries) logs it as one line, with the attempt count where there
is one; a traceback is kept for the unexpected."""
import logging
import time

import django.db
import redis.exceptions
from django.db import transaction
from django_redis.exceptions import ConnectionInterrupted

from llmengine_site.infra import InfraError

_EXPECTED = (
    ConnectionInterrupted,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    django.db.OperationalError,
    django.db.InterfaceError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, InfraError):
        return exc.transient
    return isinstance(exc, _EXPECTED)


def describe(exc: BaseException) -> str:
    """One line for a log: the error and its first cause (`ConnectionInterrupted` hides the
    Redis error it wraps)."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


logger = logging.getLogger("llmengine.transient")
_QUIET_SECONDS = 10.0
_last_logged: dict[str, float] = {}


def log_skipped(what: str, exc: BaseException) -> None:
    """One warning line for an expected failure that the caller carries on after (at most one
    per `what` every few seconds: a read path may hit it on every request); a traceback for the
    unexpected."""
    if not is_transient(exc):
        logger.error("%s failed", what, exc_info=exc)
        return
    now = time.monotonic()
    if now - _last_logged.get(what, -_QUIET_SECONDS) >= _QUIET_SECONDS:
        _last_logged[what] = now
        logger.warning("%s skipped: %s", what, describe(exc))


def best_effort(what: str, func, *args, **kwargs):
    """Run work whose failure must not fail the caller (docs/operations.md#when-redis-or-kubernetes-is-down):
    after-commit cache invalidation and message sends, cache reads on a read path. Returns its
    result, or None when it raised (logged by `log_skipped`)."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        log_skipped(what, exc)
        return None


def on_commit_best_effort(what: str, func, *args) -> None:
    """`transaction.on_commit` of best-effort work: a committed write is answered as committed
    whatever happens to the work after it; the cacher covers a message that was not sent."""
    transaction.on_commit(lambda: best_effort(what, func, *args))
