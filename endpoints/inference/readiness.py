"""Whether a request to an endpoint that does not answer is worth waiting for.

The gateway retries 429/503/connection errors up to a deadline: that is how a request waits for a
scale-from-zero endpoint to wake up or for a build or rollout to finish. When nothing is on its
way (the endpoint is UPDATE_FAILED, or it has no available replica and no build, rollout or
scale-up in progress) the request is answered at once with a 503 quoting the endpoint's status and
reason; when it waited, its 503 says what for.

Nothing here runs for a request that the endpoint answers: the status is read only after an
upstream attempt failed, or before the first attempt when the endpoint is not READY."""
import time

from django.core.cache import cache

from endpoints.choices import BUILD_PENDING_STATUSES, EndpointStatus
from endpoints.infra_state import state_key
from endpoints.inference import routing
from llmengine_site.errors import UpstreamFailure
from llmengine_site.timed_entries import MISSING, TimedEntries
from llmengine_site.transient import log_skipped

RECHECK_SECONDS = 1.0
# Observed states read from the shared cache, kept this long per process: an endpoint that is not
# READY but serving (an update rolling out) is checked before every request, and one shared-cache
# read per endpoint and interval is enough (the cacher refreshes the state every few seconds).
STATE_MEMO_SECONDS = 0.5
MAX_MEMO_ENTRIES = 10_000
_states = TimedEntries(MAX_MEMO_ENTRIES)
# Headers of an answer the client should not retry: the OpenAI SDK honours `x-should-retry`.
NO_RETRY_HEADERS = {"x-should-retry": "false"}


def _verdict(route: routing.Route, state: dict | None) -> tuple[str | None, str]:
    """(reason to answer at once or None, what a wait would be for)."""
    available = (state or {}).get("available_workers")
    starting = (state or {}).get("unavailable_workers") or 0
    failure = (state or {}).get("failure")
    if available:
        return None, f"one of its {available} available replica(s) to accept the request"
    if route.status in BUILD_PENDING_STATUSES:
        return None, f"its build to finish (status {route.status})"
    if route.status == EndpointStatus.UPDATE_FAILED:
        reason = route.status_reason or failure or "no reason recorded"
        return f"status UPDATE_FAILED: {reason}", ""
    if route.status == EndpointStatus.DELETE_IN_PROGRESS:
        return "status DELETE_IN_PROGRESS: the endpoint is being deleted", ""
    if failure:
        return f"status {route.status}, no available replica: {failure}", ""
    if starting:
        return None, f"its rollout ({starting} replica(s) starting)"
    if route.min_workers == 0:
        return None, "a replica to scale up from zero"
    if state is None:
        return None, "a replica to become available (the cluster has not been observed yet)"
    return (f"status {route.status}, but no replica is available and none is starting "
            f"(min_workers {route.min_workers}); check its pods"), ""


class Readiness:
    """Decides, while a request retries, whether to keep waiting. One per request."""

    __slots__ = ("route", "waiting_for", "_next_check")

    def __init__(self, route: routing.Route):
        self.route = route
        self.waiting_for = ""
        self._next_check = 0.0

    def _failure(self, reason: str) -> UpstreamFailure:
        return UpstreamFailure(503, f"Endpoint {self.route.name} cannot serve requests now ({reason}). "
                                    "Nothing is starting that would change this: fix or update the endpoint, "
                                    "then retry.", headers=NO_RETRY_HEADERS)

    async def check(self, *, fresh: bool = False) -> None:
        """Raise UpstreamFailure when nothing that could serve the request is on its way. At most
        once a second (the status comes from caches refreshed by writes and by the cacher)."""
        now = time.monotonic()
        if not fresh and now < self._next_check:
            return
        self._next_check = now + RECHECK_SECONDS
        route = await routing.route_by_id(self.route.id) or self.route
        self.route = route
        state = await _observed_state(route.id, now)
        reason, self.waiting_for = _verdict(route, state)
        if reason is not None:
            raise self._failure(reason)

    async def before_first_attempt(self) -> None:
        """A READY endpoint is called at once; any other is checked first."""
        if self.route.status != EndpointStatus.READY:
            await self.check(fresh=True)


async def _observed_state(endpoint_id: str, now: float) -> dict | None:
    memo = _states.fresh(endpoint_id, now)
    if memo is not MISSING:
        return memo
    try:
        state = await cache.aget(state_key(endpoint_id))
    except Exception as exc:  # the cache is down: judge as "not observed yet", keep routing
        log_skipped("observed state read", exc)
        return None
    _states.remember(endpoint_id, state, now + STATE_MEMO_SECONDS)
    return state


def forget_states() -> None:
    """Drop the memo (tests, and the gateway when it is told a status changed)."""
    _states.clear()
