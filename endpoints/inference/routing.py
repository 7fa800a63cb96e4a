"""What the gateway needs to route a request to an endpoint, cached so the hot path makes no
database query: an in-process TTL map (a few seconds) over the shared cache (a minute),
invalidated by every write to the endpoint (services call `forget`). With the shared cache down the
gateway routes from its in-process map and the database (docs/operations.md#when-redis-or-kubernetes-is-down)."""
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache

from endpoints.choices import EndpointStatus
from endpoints.inference.http import run_db
from endpoints.models import ModelEndpoint
from llmengine_site.names import endpoint_group_name
from llmengine_site.timed_entries import MISSING, TimedEntries
from llmengine_site.transient import is_transient, log_skipped

LOCAL_TTL_SECONDS = 5.0
SHARED_TTL_SECONDS = 60
MAX_LOCAL_ENTRIES = 10_000


@dataclass(frozen=True)
class Route:
    id: str
    name: str
    owner: str
    public: bool
    is_llm: bool
    endpoint_type: str
    framework: str
    served_model: str
    predict_route: str
    stream_route: str | None
    routes: tuple[str, ...]
    status: str
    min_workers: int
    max_workers: int
    per_worker: int
    task_expires_seconds: int
    status_reason: str = ""

    def visible_to(self, team_id: str) -> bool:
        return self.owner == team_id or (self.public and self.is_llm)

    @property
    def base_url(self) -> str:
        return settings.LLME_ENDPOINT_URL_TEMPLATE.format(
            service=endpoint_group_name(self.id), namespace=settings.LLME_ENDPOINT_NAMESPACE
        ).rstrip("/")

    @property
    def deleting(self) -> bool:
        return self.status == EndpointStatus.DELETE_IN_PROGRESS


def route_for(endpoint) -> Route:
    spec = endpoint.bundle.spec
    return Route(
        id=endpoint.id, name=endpoint.name, owner=endpoint.owner, public=endpoint.public_inference,
        is_llm=endpoint.is_llm, endpoint_type=endpoint.endpoint_type, framework=endpoint.inference_framework,
        served_model=(endpoint.framework_args or {}).get("served_model_name") or endpoint.model_name,
        predict_route=spec.get("predict_route", "/predict"), stream_route=spec.get("streaming_predict_route"),
        routes=tuple(spec.get("routes") or ()) + tuple(spec.get("extra_routes") or ()),
        status=endpoint.status, min_workers=endpoint.min_workers, max_workers=endpoint.max_workers,
        per_worker=endpoint.per_worker, task_expires_seconds=endpoint.task_expires_seconds or 86400,
        status_reason=endpoint.status_reason,
    )


_local = TimedEntries(MAX_LOCAL_ENTRIES)  # key -> (expires_at, Route or None for an unknown one)


def _key(kind: str, value: str) -> str:
    return f"route:{kind}:{value}"


def _load(kind: str, value: str) -> Route | None:
    queryset = ModelEndpoint.objects.select_related("bundle")
    endpoint = (queryset.filter(is_llm=True, name=value) if kind == "llm" else queryset.filter(pk=value)).first()
    return route_for(endpoint) if endpoint else None


async def _lookup(kind: str, value: str) -> Route | None:
    key = _key(kind, value)
    now = time.monotonic()
    route = _local.fresh(key, now)
    if route is not MISSING:
        return route
    try:
        stored = await cache.aget(key)
    except Exception as exc:
        log_skipped("shared route cache read", exc)
        stored, shared = None, False
    else:
        shared = True
    if stored is not None:
        route = Route(**{**stored, "routes": tuple(stored["routes"])}) if stored else None
    else:
        try:
            route = await run_db(_load, kind, value)
        except Exception as exc:
            known = _local.get(key)  # expired, or it would have answered above
            if known is None or not is_transient(exc):
                raise
            log_skipped("route load", exc)
            route = known[1]  # the database is unreachable too: keep routing by what we knew
        else:
            if shared:
                try:
                    await cache.aset(key, asdict(route) if route else {}, SHARED_TTL_SECONDS)
                except Exception as exc:
                    log_skipped("shared route cache write", exc)
    _local.remember(key, route, now + LOCAL_TTL_SECONDS)
    return route


async def llm_route(name: str) -> Route | None:
    return await _lookup("llm", name)


async def route_by_id(endpoint_id: str) -> Route | None:
    return await _lookup("id", endpoint_id)


def forget(endpoint_id: str, name: str) -> None:
    """Drop cached routes of an endpoint after a write (other processes follow within seconds)."""
    keys = [_key("id", endpoint_id), _key("llm", name)]
    for key in keys:
        _local.pop(key, None)  # this process follows at once, even when the shared cache is down
    cache.delete_many(keys)
