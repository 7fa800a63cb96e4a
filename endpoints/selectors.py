"""Reads of endpoints and bundles, with tenant scoping written once
(docs/design.md#services-selectors-and-actors)."""
from django.db.models import Q, QuerySet

from endpoints.models import ModelBundle, ModelEndpoint, ModelRepository
from llmengine_site.auth import Caller
from llmengine_site.choices import OrderBy
from llmengine_site.errors import Forbidden, ObjectNotFound

# The id breaks ties, so pages of a list (docs/wire-contract.md#pagination) never overlap.
_ORDERING = {OrderBy.NEWEST: ("-created_at", "id"), OrderBy.OLDEST: ("created_at", "id"),
             OrderBy.ALPHABETICAL: ("name", "id")}


def _ordered(queryset: QuerySet, order_by: str | None) -> QuerySet:
    return queryset.order_by(*_ORDERING.get(order_by, _ORDERING[OrderBy.NEWEST]))


def llm_endpoints_visible_to(caller: Caller, *, name: str | None = None, order_by: str | None = None) -> QuerySet:
    """The caller's LLM endpoints and every public one."""
    queryset = ModelEndpoint.objects.filter(is_llm=True).filter(Q(owner=caller.team_id) | Q(public_inference=True))
    if name:
        queryset = queryset.filter(name=name)
    return _ordered(queryset.select_related("bundle"), order_by)


def llm_endpoint_for_read(caller: Caller, name: str) -> ModelEndpoint:
    endpoint = llm_endpoints_visible_to(caller).filter(name=name).first()
    if endpoint is None:
        raise ObjectNotFound(f"Model Endpoint {name} was not found.")
    return endpoint


def llm_endpoint_for_write(caller: Caller, name: str, *, for_update: bool = False) -> ModelEndpoint:
    """The named LLM endpoint if the caller owns it; 403 for another team's public endpoint,
    404 for one the caller cannot see."""
    queryset = ModelEndpoint.objects.filter(is_llm=True, name=name).select_related("bundle")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    endpoint = queryset.first()
    if endpoint is None or (endpoint.owner != caller.team_id and not endpoint.public_inference):
        raise ObjectNotFound("The specified LLM endpoint could not be found.")
    if endpoint.owner != caller.team_id:
        raise Forbidden("You don't have permission to change the requested model endpoint.")
    return endpoint


def endpoints_owned_by(caller: Caller, *, name: str | None = None, order_by: str | None = None) -> QuerySet:
    queryset = ModelEndpoint.objects.filter(owner=caller.team_id)
    if name:
        queryset = queryset.filter(name=name)
    return _ordered(queryset.select_related("bundle"), order_by)


def endpoint_owned_by(caller: Caller, endpoint_id: str, *, for_update: bool = False) -> ModelEndpoint:
    queryset = ModelEndpoint.objects.filter(pk=endpoint_id, owner=caller.team_id).select_related("bundle")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    endpoint = queryset.first()
    if endpoint is None:
        raise ObjectNotFound(f"Model Endpoint {endpoint_id} was not found.")
    return endpoint


def bundles_owned_by(caller: Caller, *, name: str | None = None, order_by: str | None = None) -> QuerySet:
    queryset = ModelBundle.objects.filter(owner=caller.team_id)
    if name:
        queryset = queryset.filter(name=name)
    return _ordered(queryset, order_by)


def bundle_owned_by(caller: Caller, bundle_id: str) -> ModelBundle:
    bundle = ModelBundle.objects.filter(pk=bundle_id, owner=caller.team_id).first()
    if bundle is None:
        raise ObjectNotFound(f"Model Bundle {bundle_id} was not found.")
    return bundle


def latest_bundle(caller: Caller, name: str) -> ModelBundle:
    bundle = bundles_owned_by(caller, name=name, order_by=OrderBy.NEWEST).first()
    if bundle is None:
        raise ObjectNotFound(f"Model Bundle {name} was not found.")
    return bundle


def hf_repo_for(model_name: str) -> str | None:
    """The Hugging Face repository of a model name, from the model repository table (the one
    lookup: LLM endpoints and batch completions both use it)."""
    row = ModelRepository.objects.filter(model_name=model_name).first()
    return row.hf_repo if row else None
