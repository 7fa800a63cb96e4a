"""Dramatiq actors of the endpoints app: a few lines each over a service (design §10.2)."""
import dramatiq

from llmengine_site.infra import InfraError


class TransientBuildError(Exception):
    """Raised to make Dramatiq retry the build with backoff."""


def _retry_transient(retries_so_far: int, exc: Exception) -> bool:
    return isinstance(exc, TransientBuildError)


@dramatiq.actor(
    actor_name="endpoints.sync",
    queue_name="endpoints",
    max_retries=12,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=15 * 60 * 1000,
    retry_when=_retry_transient,
)
def sync_endpoint(endpoint_id: str) -> None:
    """Converge the endpoint's Kubernetes objects and queue with its row (idempotent)."""
    from endpoints.builder import endpoint_sync

    try:
        endpoint_sync(endpoint_id)
    except InfraError as exc:
        if exc.transient:
            raise TransientBuildError(str(exc)) from exc
        raise
