"""What stays constant as endpoints grow (docs/operations.md#pruning-and-drift-repair,
docs/wire-contract.md#pagination): query and call counts, never timings (bench/scale.py
times them)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints import infra_state
from endpoints.builder import applied_record, endpoint_spec, endpoint_sync
from endpoints.manifests import render_endpoint
from endpoints.models import ModelBundle, ModelEndpoint
from endpoints.reconciler import reconcile_once
from llmengine_site import ids
from llmengine_site.infra.kube import get_kube
from llmengine_site.names import endpoint_group_name

NS = "llm-engine"


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def clone(template: ModelEndpoint, count: int, prefix: str) -> list[ModelEndpoint]:
    from django.forms.models import model_to_dict

    bundle_fields = model_to_dict(template.bundle, exclude=["id"])
    endpoint_fields = model_to_dict(template, exclude=["id", "bundle", "name"])
    bundles = [ModelBundle(id=ids.bundle_id(), **{**bundle_fields, "name": f"{prefix}-{i}"}) for i in range(count)]
    ModelBundle.objects.bulk_create(bundles)
    endpoints = [ModelEndpoint(id=ids.endpoint_id(), bundle=bundle, name=bundle.name, **endpoint_fields)
                 for bundle in bundles]
    return ModelEndpoint.objects.bulk_create(endpoints)


@pytest.fixture
def template(owner, guide_llama_7b):
    response = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 200
    return ModelEndpoint.objects.select_related("bundle").get(name=guide_llama_7b["name"])


def endpoint_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "endpoints_modelendpoint" in q["sql"]]


def test_the_list_is_one_query_and_one_cache_read_however_long(owner, template, monkeypatch):
    clone(template, 60, "many")
    infra_state.write_states({e: {"available_workers": 2, "unavailable_workers": 1}
                              for e in ModelEndpoint.objects.values_list("id", flat=True)})
    reads = []
    original_get = infra_state.cache.get
    monkeypatch.setattr(infra_state.cache, "get", lambda *a, **k: reads.append(a) or original_get(*a, **k))
    monkeypatch.setattr(infra_state.cache, "get_many", lambda *a, **k: pytest.fail("one read per endpoint"))
    owner.get("/v1/llm/model-endpoints")  # the caller is cached after the first request
    reads.clear()
    with CaptureQueriesContext(connection) as queries:
        response = owner.get("/v1/llm/model-endpoints")
    body = response.json()["model_endpoints"]
    assert len(body) == 61 and len(queries.captured_queries) == 1 and len(reads) == 1
    assert {e["spec"]["deployment_state"]["available_workers"] for e in body} == {2}
    assert {e["spec"]["bundle_name"] for e in body} >= {"many-0", "many-59"}
    with CaptureQueriesContext(connection) as queries:
        assert len(owner.get("/v1/model-endpoints").json()["model_endpoints"]) == 61
    assert len(queries.captured_queries) == 1


def test_the_list_body_is_the_one_a_get_answers(owner, template):
    listed = owner.get("/v1/llm/model-endpoints").json()["model_endpoints"]
    assert listed == [owner.get(f"/v1/llm/model-endpoints/{template.name}").json()]
    generic = owner.get("/v1/model-endpoints").json()["model_endpoints"]
    assert generic == [owner.get(f"/v1/model-endpoints/{template.id}").json()]


def test_pages_cover_the_list_once_in_order(owner, template):
    clone(template, 6, "page")
    full = [e["name"] for e in owner.get("/v1/llm/model-endpoints?order_by=alphabetical").json()["model_endpoints"]]
    seen, offset = [], 0
    while offset is not None:
        page = owner.get(f"/v1/llm/model-endpoints?order_by=alphabetical&limit=3&offset={offset}").json()
        seen += [e["name"] for e in page["model_endpoints"]]
        offset = page["next_offset"]
    assert seen == full and len(full) == 7
    assert "next_offset" not in owner.get("/v1/llm/model-endpoints").json()


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("limit=%C2%B2", "limit"),
    ("limit=-1", "limit"), ("limit=5&offset=-2", "offset"), ("offset=3", "offset"),
    ("limit=5&offset=99999999999999999999", "offset"),
])
def test_bad_pagination_is_a_422_naming_the_parameter(owner, template, query, field):
    for route in ("/v1/llm/model-endpoints", "/v1/model-endpoints"):
        response = owner.get(f"{route}?{query}")
        assert response.status_code == 422, (route, query, response.content)
        assert field in str(response.json()["detail"])


def put_on_cluster(k8s_api, endpoints):
    for endpoint in ModelEndpoint.objects.select_related("bundle").filter(pk__in=[e.id for e in endpoints]):
        objects = render_endpoint(endpoint_spec(endpoint), keda_available=True, lws_available=False)
        for obj in objects:
            get_kube().apply(obj)
        k8s_api.mark_deployment_available(NS, endpoint_group_name(endpoint.id), replicas=1)
        ModelEndpoint.objects.filter(pk=endpoint.id).update(
            synced_version=endpoint.spec_version, applied_objects=applied_record(objects),
            status="UPDATE_IN_PROGRESS", destination=endpoint_group_name(endpoint.id))


def first_pass_queries(k8s_api, template, count) -> int:
    ModelEndpoint.objects.exclude(pk=template.pk).delete()
    put_on_cluster(k8s_api, clone(template, count, f"n{count}"))
    ModelEndpoint.objects.filter(pk=template.pk).update(status="READY")
    with CaptureQueriesContext(connection) as queries:
        summary = reconcile_once(get_kube())
    assert len(summary.status_changes) == count
    assert ModelEndpoint.objects.filter(status="READY").count() == count + 1
    return len(queries.captured_queries)


def test_the_first_cacher_pass_makes_as_many_queries_for_100_endpoints_as_for_10(template, k8s_api):
    assert first_pass_queries(k8s_api, template, 10) == first_pass_queries(k8s_api, template, 100)


def test_a_steady_cacher_pass_lists_each_kind_once(owner, template, k8s_api):
    endpoint_sync(template.id)
    k8s_api.mark_deployment_available(NS, endpoint_group_name(template.id), replicas=1)
    reconcile_once(get_kube())
    k8s_api.requests.clear()
    reconcile_once(get_kube())
    lists = [r.path.rsplit("/", 1)[-1] for r in k8s_api.requests if r.method == "GET" and "/namespaces/" in r.path]
    assert sorted(lists) == sorted(set(lists))  # no kind twice
    assert {"deployments", "pods", "configmaps", "services"} <= set(lists)
    assert not [r for r in k8s_api.requests if r.method != "GET"]  # nothing to change


def test_a_first_build_lists_nothing_by_label(owner, guide_llama_7b, k8s_api):
    response = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 200
    k8s_api.requests.clear()
    endpoint_sync(ModelEndpoint.objects.get(name=guide_llama_7b["name"]).id)
    assert [r for r in k8s_api.requests if r.query.get("labelSelector")] == []
    assert ModelEndpoint.objects.get(name=guide_llama_7b["name"]).synced_version == 1


def test_the_openapi_document_describes_the_page_parameters(api):
    paths = api.get("/openapi.json").json()["paths"]
    for route in ("/v1/llm/model-endpoints", "/v1/model-endpoints"):
        names = {p["name"] for p in paths[route]["get"].get("parameters", [])}
        assert {"limit", "offset"} <= names, route


def test_listed_times_read_as_a_get_gives_them_with_and_without_microseconds(owner, template):
    from datetime import datetime, timezone as tz

    ModelEndpoint.objects.filter(pk=template.pk).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz.utc), last_updated_at=datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=tz.utc))
    (listed,) = owner.get("/v1/model-endpoints").json()["model_endpoints"]
    assert listed == owner.get(f"/v1/model-endpoints/{template.id}").json()
    assert (listed["created_at"], listed["last_updated_at"]) == ("2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05.000007+00:00")
