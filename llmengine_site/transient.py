"""Which failures are expected and pass by themselves: a cluster or AWS call that may succeed
later, Redis or the database unreachable for a while. Code that carries on after one (the cacher,
after-commit hooks, the actor's retries) logs it as one line, with the attempt count where there
is one; a traceback is kept for the unexpected."""
import django.db
import redis.exceptions
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
