"""What every converge actor shares: transient failures (docs/operations.md#when-redis-or-kubernetes-is-down)
are retried by Dramatiq with backoff, logged as one line with the attempt number; permanent ones
are not retried (the service has already recorded them on the row) and keep their traceback."""
import logging

import dramatiq
from dramatiq.middleware import CurrentMessage

from llmengine_site.transient import describe, is_transient

logger = logging.getLogger(__name__)


class TransientInfraError(dramatiq.Retry):
    """Raised by an actor to make Dramatiq retry it with backoff. A `dramatiq.Retry`, so the
    worker logs no traceback for it: `converge` has logged its one line."""


MAX_RETRIES = 12


def retry_transient(retries_so_far: int, exc: Exception) -> bool:
    """Retry a transient failure, at most MAX_RETRIES times (Dramatiq ignores `max_retries` once
    `retry_when` is set): a message that gives up is dropped, and the cacher re-sends the work
    while the row is still behind, so an outage never piles up messages retrying forever."""
    return isinstance(exc, TransientInfraError) and retries_so_far < MAX_RETRIES


# Options of every converge actor; `queue_name`, `actor_name` and `time_limit` are per actor.
RETRY_OPTIONS = dict(max_retries=MAX_RETRIES, min_backoff=1_000, max_backoff=60_000, retry_when=retry_transient)


def _attempt() -> int | None:
    """This delivery's attempt number (1 for the first), when running on a worker."""
    message = CurrentMessage.get_current_message()
    return None if message is None else message.options.get("retries", 0) + 1


def converge(service, object_id: str) -> None:
    """Run `service(object_id)`; a transient failure (an InfraError marked transient, Redis or
    the database unreachable) becomes a retry with one warning line."""
    try:
        service(object_id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        attempt = _attempt()
        logger.warning("%s %s: attempt %s failed, will retry: %s", service.__name__, object_id,
                       attempt if attempt is not None else "?", describe(exc))
        raise TransientInfraError(describe(exc)) from None
