"""Model endpoint and bundle routes (docs/wire-contract.md#llm-model-endpoints,
docs/wire-contract.md#generic-model-endpoints, docs/wire-contract.md#model-bundles).

Thin: parse, call a service or selector, render. Every success is a 200 with JSON."""

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints import selectors, services
from endpoints.api.bundle_serializers import CloneBundleSerializer, CreateBundleV1Serializer, CreateBundleV2Serializer
from endpoints.api.endpoint_serializers import (
    CreateEndpointSerializer,
    CreateLLMEndpointSerializer,
    UpdateEndpointSerializer,
    UpdateLLMEndpointSerializer,
    framework_args_from,
)
from endpoints.api.presenters import (
    ENDPOINT_COLUMNS,
    LLM_COLUMNS,
    bundle_v1_body,
    bundle_v2_body,
    endpoint_body,
    endpoint_body_from_values,
    llm_endpoint_body,
    list_values,
    llm_endpoint_body_from_values,
)
from endpoints.infra_state import read_state, read_summaries
from llmengine_site.api.bodies import strip_nulls, validated
from llmengine_site.api.ordering import order_by
from llmengine_site.errors import InvalidRequest
from llmengine_site.gc_pause import collection_paused


MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description=f"optional page size (1 to {MAX_PAGE}); without it the full list"),
    OpenApiParameter("offset", int, description="rows to skip (with limit); a page's `next_offset` gives the next one"),
]
LIST_RESPONSE = OpenApiResponse(description=(
    "`{\"model_endpoints\": [...]}`; with `limit` also `\"next_offset\"`: the offset of the next page, "
    "null on the last"))


def _page(request) -> tuple[int | None, int]:
    """Optional `?limit=&offset=` (docs/wire-contract.md#pagination); no limit: the full list."""
    limit, offset = request.query_params.get("limit"), request.query_params.get("offset")
    errors = {}
    if limit is not None and not (_digits(limit) and 1 <= int(limit) <= MAX_PAGE):
        errors["limit"] = [f"must be an integer from 1 to {MAX_PAGE}"]
    if offset is not None and not (_digits(offset) and int(offset) <= MAX_OFFSET and limit is not None):
        errors["offset"] = [f"must be an integer from 0 to {MAX_OFFSET}, given with limit"]
    if errors:
        raise drf_serializers.ValidationError(errors)
    return (int(limit) if limit is not None else None), int(offset or 0)


def _listed(request, queryset, columns, render) -> HttpResponse:
    """`{"model_endpoints": [...]}`: the rows in ONE query as plain values, the observed numbers
    in one cache round trip, encoded by orjson (10,000 endpoints stay fast). With `limit`, one
    page and `next_offset` (null on the last page)."""
    limit, offset = _page(request)
    # 10,000 rows and bodies of dicts, encoded and freed before collection resumes (a pass right
    # after the list, sometimes a full one, was a fifth of a 10,000-endpoint answer's time).
    with collection_paused():
        if limit is not None:
            rows = list_values(queryset[offset:offset + limit + 1], columns)
            more = len(rows) > limit
            rows = rows[:limit]
        else:
            rows = list_values(queryset, columns)
        states = read_summaries([row.id for row in rows])
        body = {"model_endpoints": [render(row, states.get(row.id)) for row in rows]}
        if limit is not None:
            body["next_offset"] = offset + limit if more else None
        content = orjson.dumps(body)
        del body, rows, states
    return HttpResponse(content, content_type="application/json")


class LLMEndpointListView(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: LIST_RESPONSE}, summary="List LLM endpoints (the caller's and public ones)")
    def get(self, request):
        return _listed(request, selectors.llm_endpoints_visible_to(
            request.user, name=request.query_params.get("name"), order_by=order_by(request)),
            LLM_COLUMNS, llm_endpoint_body_from_values)

    @extend_schema(request=CreateLLMEndpointSerializer, responses={200: OpenApiResponse(description="`{\"endpoint_creation_task_id\": str}`: the build is queued")}, summary="Create an LLM endpoint")
    def post(self, request):
        body = strip_nulls(request.data)
        data = validated(CreateLLMEndpointSerializer, body)
        args = framework_args_from(body, data["inference_framework"])
        endpoint = services.llm_endpoint_create(request.user, data, args)
        return Response({"endpoint_creation_task_id": endpoint.creation_task_id})


class LLMEndpointDetailView(APIView):
    @extend_schema(responses={200: OpenApiResponse(description="the endpoint, with desired and observed state")}, summary="Get an LLM endpoint")
    def get(self, request, model_endpoint_name):
        endpoint = selectors.llm_endpoint_for_read(request.user, model_endpoint_name)
        return Response(llm_endpoint_body(endpoint, read_state(endpoint.id)))

    @extend_schema(request=UpdateLLMEndpointSerializer, responses={200: OpenApiResponse(description="`{\"endpoint_creation_task_id\": str}`: the build is queued")}, summary="Update an LLM endpoint (nulls mean not provided)")
    def put(self, request, model_endpoint_name):
        body = strip_nulls(request.data)
        data = validated(UpdateLLMEndpointSerializer, body)
        endpoint = selectors.llm_endpoint_for_write(request.user, model_endpoint_name)
        args = framework_args_from(body, endpoint.inference_framework)
        task_id = services.llm_endpoint_update(request.user, model_endpoint_name, data, args)
        return Response({"endpoint_creation_task_id": task_id})

    @extend_schema(responses={200: OpenApiResponse(description="`{\"deleted\": true}`: teardown is queued")}, summary="Delete an LLM endpoint")
    def delete(self, request, model_endpoint_name):
        endpoint = selectors.llm_endpoint_for_write(request.user, model_endpoint_name)
        services.endpoint_delete(endpoint)
        return Response({"deleted": True})


class EndpointListView(APIView):
    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: LIST_RESPONSE}, summary="List the caller's endpoints")
    def get(self, request):
        return _listed(request, selectors.endpoints_owned_by(
            request.user, name=request.query_params.get("name"), order_by=order_by(request)),
            ENDPOINT_COLUMNS, endpoint_body_from_values)

    @extend_schema(request=CreateEndpointSerializer, responses={200: OpenApiResponse(description="`{\"endpoint_creation_task_id\": str}`: the build is queued")}, summary="Create an endpoint from a bundle")
    def post(self, request):
        data = validated(CreateEndpointSerializer, strip_nulls(request.data))
        endpoint = services.endpoint_create(request.user, data)
        return Response({"endpoint_creation_task_id": endpoint.creation_task_id})


class EndpointDetailView(APIView):
    @extend_schema(responses={200: OpenApiResponse(description="the endpoint, with desired and observed state")}, summary="Get an endpoint")
    def get(self, request, model_endpoint_id):
        endpoint = selectors.endpoint_owned_by(request.user, model_endpoint_id)
        return Response(endpoint_body(endpoint, read_state(endpoint.id)))

    @extend_schema(request=UpdateEndpointSerializer, responses={200: OpenApiResponse(description="`{\"endpoint_creation_task_id\": str}`: the build is queued")}, summary="Update an endpoint")
    def put(self, request, model_endpoint_id):
        data = validated(UpdateEndpointSerializer, strip_nulls(request.data))
        task_id = services.endpoint_update(request.user, model_endpoint_id, data)
        return Response({"endpoint_creation_task_id": task_id})

    @extend_schema(responses={200: OpenApiResponse(description="`{\"deleted\": true}`: teardown is queued")}, summary="Delete an endpoint")
    def delete(self, request, model_endpoint_id):
        endpoint = selectors.endpoint_owned_by(request.user, model_endpoint_id)
        services.endpoint_delete(endpoint)
        return Response({"deleted": True})


class EndpointRestartView(APIView):
    @extend_schema(request=None, responses={200: OpenApiResponse(description="`{\"restarted\": true}`")}, summary="Restart the endpoint's pods")
    def post(self, request, model_endpoint_id):
        endpoint = selectors.endpoint_owned_by(request.user, model_endpoint_id)
        services.endpoint_restart(endpoint)
        return Response({"restarted": True})


def _bundle_views(version: int):
    """The five bundle routes for one API version (v1 and v2 differ in body shapes only)."""
    render = bundle_v1_body if version == 1 else bundle_v2_body

    class BundleListView(APIView):
        request_serializers = {"post": CreateBundleV1Serializer if version == 1 else CreateBundleV2Serializer}

        def get(self, request):
            bundles = selectors.bundles_owned_by(
                request.user, name=request.query_params.get("model_name"), order_by=order_by(request)
            )
            return Response({"model_bundles": [render(bundle) for bundle in bundles]})

        def post(self, request):
            body = strip_nulls(request.data)
            if version == 1:
                validated(CreateBundleV1Serializer, body)
                raise InvalidRequest(
                    "v1 model bundles (cloudpickle/zip artifacts) are not supported by this deployment: create a "
                    "runnable_image or streaming_enhanced_runnable_image bundle with POST /v2/model-bundles"
                )
            data = validated(CreateBundleV2Serializer, body)
            bundle = services.bundle_create(
                request.user, data["name"], data["flavor"], data.get("metadata"), data.get("schema_location")
            )
            return Response({"model_bundle_id": bundle.id})

    class BundleCloneView(APIView):
        request_serializers = {"post": CloneBundleSerializer}

        def post(self, request):
            data = validated(CloneBundleSerializer, strip_nulls(request.data))
            bundle = services.bundle_clone(request.user, data["original_model_bundle_id"], data.get("new_app_config"))
            return Response({"model_bundle_id": bundle.id})

    class BundleLatestView(APIView):
        def get(self, request):
            name = request.query_params.get("model_name")
            if not name:
                raise drf_serializers.ValidationError({"model_name": ["This query parameter is required."]})
            return Response(render(selectors.latest_bundle(request.user, name)))

    class BundleDetailView(APIView):
        def get(self, request, model_bundle_id):
            return Response(render(selectors.bundle_owned_by(request.user, model_bundle_id)))

    return BundleListView, BundleCloneView, BundleLatestView, BundleDetailView


BUNDLE_VIEWS = {1: _bundle_views(1), 2: _bundle_views(2)}
