"""Observed state of endpoints, written by the cacher into the cache and read by the API.

One entry per endpoint: `{"replicas", "available_workers", "unavailable_workers", "image",
"num_queued_items", "observed_at", "pods": [...]}`. Missing means "not observed (yet)": the API
then shows the desired values with `available_workers: null`. So does a cache that cannot be
reached: reads degrade to "not observed", never fail (docs/operations.md#when-redis-or-kubernetes-is-down).
"""
from django.core.cache import cache

from llmengine_site.transient import log_skipped

STATE_TTL_SECONDS = 120


def _key(endpoint_id: str) -> str:
    return f"infra:{endpoint_id}"


def read_states(endpoint_ids: list[str]) -> dict[str, dict]:
    """Observed state by endpoint id, in one cache round trip."""
    if not endpoint_ids:
        return {}
    try:
        found = cache.get_many([_key(endpoint_id) for endpoint_id in endpoint_ids])
    except Exception as exc:
        log_skipped("observed state read", exc)
        return {}
    # A value the cache could not verify reads as None: treat it as not observed.
    return {key.split(":", 1)[1]: value for key, value in found.items() if value is not None}


def read_state(endpoint_id: str) -> dict | None:
    return read_states([endpoint_id]).get(endpoint_id)


def write_states(states: dict[str, dict]) -> None:
    """Best effort: with the cache down the cacher still moves statuses from what it observed
    (docs/operations.md#when-redis-or-kubernetes-is-down); readers see "not observed"."""
    if not states:
        return
    try:
        cache.set_many({_key(endpoint_id): state for endpoint_id, state in states.items()}, STATE_TTL_SECONDS)
    except Exception as exc:
        log_skipped("observed state write", exc)


def forget_state(endpoint_id: str) -> None:
    cache.delete(_key(endpoint_id))
