"""What every converge actor shares: transient infrastructure errors are retried by Dramatiq
with backoff; permanent ones are not (the service has already recorded them on the row)."""
from llmengine_site.infra import InfraError


class TransientInfraError(Exception):
    """Raised by an actor to make Dramatiq retry it with backoff."""


def retry_transient(retries_so_far: int, exc: Exception) -> bool:
    return isinstance(exc, TransientInfraError)


# Options of every converge actor; `queue_name`, `actor_name` and `time_limit` are per actor.
RETRY_OPTIONS = dict(max_retries=12, min_backoff=1_000, max_backoff=60_000, retry_when=retry_transient)


def converge(service, object_id: str) -> None:
    """Run `service(object_id)`; a transient InfraError becomes a retry."""
    try:
        service(object_id)
    except InfraError as exc:
        if exc.transient:
            raise TransientInfraError(str(exc)) from exc
        raise
