"""Observed state of endpoints, written by the cacher into the cache and read by the API.

One entry per endpoint: `{"replicas", "available_workers", "unavailable_workers", "image",
"num_queued_items", "observed_at", "pods": [...]}`. Missing means "not observed (yet)": the API
then shows the desired values with `available_workers: null`. So does a cache that cannot be
reached: reads degrade to "not observed", never fail (docs/operations.md#when-redis-or-kubernetes-is-down).
"""
from django.core.cache import cache

from llmengine_site.transient import log_skipped

STATE_TTL_SECONDS = 120
# The observed numbers of every endpoint in ONE cache entry, written with the states: a list of
# 10,000 endpoints reads them in one round trip and one signature check, not 10,000.
SUMMARY_KEY = "infra-summary"


def state_key(endpoint_id: str) -> str:
    return f"infra:{endpoint_id}"


def read_states(endpoint_ids: list[str]) -> dict[str, dict]:
    """Observed state by endpoint id, in one cache round trip."""
    if not endpoint_ids:
        return {}
    try:
        found = cache.get_many([state_key(endpoint_id) for endpoint_id in endpoint_ids])
    except Exception as exc:
        log_skipped("observed state read", exc)
        return {}
    # A value the cache could not verify reads as None: treat it as not observed.
    return {key.split(":", 1)[1]: value for key, value in found.items() if value is not None}


def read_state(endpoint_id: str) -> dict | None:
    return read_states([endpoint_id]).get(endpoint_id)


def write_states(states: dict[str, dict]) -> None:
    """The states of one cacher pass (every observed endpoint) and their summary. Best effort:
    with the cache down the cacher still moves statuses from what it observed
    (docs/operations.md#when-redis-or-kubernetes-is-down); readers see "not observed"."""
    summary = {endpoint_id: [state.get("available_workers"), state.get("unavailable_workers"),
                             state.get("num_queued_items")] for endpoint_id, state in states.items()}
    try:
        if states:
            cache.set_many({state_key(endpoint_id): state for endpoint_id, state in states.items()}, STATE_TTL_SECONDS)
        cache.set(SUMMARY_KEY, summary, STATE_TTL_SECONDS)
    except Exception as exc:
        log_skipped("observed state write", exc)


def read_summaries(endpoint_ids: list[str]) -> dict[str, dict]:
    """`available_workers`, `unavailable_workers` and `num_queued_items` by endpoint id, from
    the one summary entry (`read_states` when there is none yet). A cache that cannot be read
    means "not observed": the list still answers."""
    if not endpoint_ids:
        return {}
    try:
        summary = cache.get(SUMMARY_KEY)
    except Exception as exc:
        log_skipped("observed state read", exc)
        return {}
    if summary is None:
        return read_states(endpoint_ids)
    found = {}
    for endpoint_id in endpoint_ids:
        numbers = summary.get(endpoint_id)
        if numbers is not None:
            found[endpoint_id] = {"available_workers": numbers[0], "unavailable_workers": numbers[1],
                                  "num_queued_items": numbers[2]}
    return found


def forget_state(endpoint_id: str) -> None:
    cache.delete(state_key(endpoint_id))
