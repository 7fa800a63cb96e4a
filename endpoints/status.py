"""Status recording of endpoints: every status move goes through here and leaves an event row.

Used by the services (writes), the builder and the reconciler; imports only models."""
from django.db import transaction
from django.utils import timezone

from endpoints.inference.routing import forget
from endpoints.models import EndpointEvent, ModelEndpoint
from llmengine_site.transient import on_commit_best_effort


def endpoint_record_status(endpoint_id: str, spec_version: int | None, new_status: str, reason: str = "") -> bool:
    """Move an endpoint to `new_status` (with a reason) if it is still at `spec_version`
    (any version when None), and record the transition as an event. Returns whether it moved.

    The conditional UPDATE keeps an old build from overwriting the status of a newer spec."""
    with transaction.atomic():
        queryset = ModelEndpoint.objects.select_for_update().filter(pk=endpoint_id)
        if spec_version is not None:
            queryset = queryset.filter(spec_version=spec_version)
        endpoint = queryset.first()
        if endpoint is None:
            return False
        old_status = endpoint.status
        if old_status == new_status and endpoint.status_reason == reason:
            return True
        ModelEndpoint.objects.filter(pk=endpoint_id).update(
            status=new_status, status_reason=reason, last_updated_at=timezone.now()
        )
        EndpointEvent.objects.create(endpoint_id=endpoint_id, old_status=old_status, new_status=new_status, reason=reason)
        name = endpoint.name
    on_commit_best_effort("route cache invalidation", forget, endpoint_id, name)  # the gateway answers by the new status
    return True


def record_event(endpoint: ModelEndpoint, old_status: str, reason: str) -> None:
    """An event for a move the caller has just written (the row holds the new status)."""
    EndpointEvent.objects.create(endpoint=endpoint, old_status=old_status, new_status=endpoint.status, reason=reason)


def endpoint_record_statuses(moves: dict[str, tuple[int, str, str]]) -> list[tuple[str, str, str]]:
    """Many moves at once, as `endpoint_record_status` does each: `moves` maps an endpoint id to
    (spec_version it must still be at, new status, reason). A constant number of queries however
    many endpoints move (one locking read, one UPDATE, one INSERT of events). Returns
    (name, old status, new status) of the moves made."""
    if not moves:
        return []
    made, rows, events = [], [], []
    now = timezone.now()
    with transaction.atomic():
        locked = ModelEndpoint.objects.select_for_update().filter(pk__in=list(moves)).only(
            "id", "name", "status", "status_reason", "spec_version")
        for row in locked:
            version, new_status, reason = moves[row.id]
            if row.spec_version != version or (row.status, row.status_reason) == (new_status, reason):
                continue
            events.append(EndpointEvent(endpoint_id=row.id, old_status=row.status, new_status=new_status, reason=reason))
            made.append((row.id, row.name, row.status, new_status))
            row.status, row.status_reason, row.last_updated_at = new_status, reason, now
            rows.append(row)
        ModelEndpoint.objects.bulk_update(rows, ["status", "status_reason", "last_updated_at"])
        EndpointEvent.objects.bulk_create(events)

    def forget_all(made=made):  # the gateway answers by the new statuses
        for endpoint_id, name, _, _ in made:
            forget(endpoint_id, name)

    on_commit_best_effort("route cache invalidation", forget_all)
    return [(name, old, new) for _, name, old, new in made]
