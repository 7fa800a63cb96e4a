"""Dramatiq actors of the endpoints app: a few lines each over a service
(docs/design.md#services-selectors-and-actors)."""
import dramatiq

from endpoints.builder import endpoint_sync
from llmengine_site.actors import RETRY_OPTIONS, converge


@dramatiq.actor(actor_name="endpoints.sync", queue_name="endpoints", time_limit=15 * 60 * 1000, **RETRY_OPTIONS)
def sync_endpoint(endpoint_id: str) -> None:
    """Converge the endpoint's Kubernetes objects and queue with its row (idempotent)."""
    converge(endpoint_sync, endpoint_id)
