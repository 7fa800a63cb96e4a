"""Read-only queries behind the operator console (dashboard and lists).

Every function issues a fixed number of queries whatever the number of rows, and observed
state comes from the cacher's entries in one `read_states` round trip, never one per row.
"""
from django.db.models import Count

from endpoints import infra_state
from endpoints.choices import EndpointStatus, EndpointType
from endpoints.models import EndpointEvent, ModelEndpoint

DASHBOARD_ROWS = 10


def endpoint_status_counts() -> list[tuple[str, int]]:
    """(status, count) for every status, zeros included, in the order of the status choices."""
    counts = dict(ModelEndpoint.objects.order_by().values_list("status").annotate(count=Count("id")))
    return [(status, counts.get(status, 0)) for status in EndpointStatus.values]


def failing_endpoints(limit: int = DASHBOARD_ROWS) -> list[ModelEndpoint]:
    """Endpoints in UPDATE_FAILED with their reasons, the most recently changed first."""
    return list(
        ModelEndpoint.objects.filter(status=EndpointStatus.UPDATE_FAILED)
        .only("id", "name", "owner", "status", "status_reason", "last_updated_at")
        .order_by("-last_updated_at")[:limit]
    )


def async_endpoint_queues(limit: int = DASHBOARD_ROWS) -> list[dict]:
    """Async endpoints with the queue depth the cacher last measured (None when not observed),
    deepest queue first."""
    endpoints = list(
        ModelEndpoint.objects.filter(endpoint_type=EndpointType.ASYNC)
        .exclude(status=EndpointStatus.DELETE_IN_PROGRESS)
        .only("id", "name", "owner", "status")
        .order_by("name")
    )
    states = infra_state.read_states([endpoint.id for endpoint in endpoints])
    rows = [
        {"endpoint": endpoint, "depth": (states.get(endpoint.id) or {}).get("num_queued_items")}
        for endpoint in endpoints
    ]
    rows.sort(key=lambda row: -1 if row["depth"] is None else row["depth"], reverse=True)
    return rows[:limit]


def recent_events(limit: int = DASHBOARD_ROWS) -> list[EndpointEvent]:
    return list(
        EndpointEvent.objects.select_related("endpoint")
        .only("id", "created_at", "old_status", "new_status", "reason", "endpoint__id", "endpoint__name")
        .order_by("-created_at", "-id")[:limit]
    )


def endpoint_events(endpoint_id: str, limit: int = 50) -> list[EndpointEvent]:
    """The endpoint's latest status transitions, newest first."""
    return list(EndpointEvent.objects.filter(endpoint_id=endpoint_id).order_by("-created_at", "-id")[:limit])
