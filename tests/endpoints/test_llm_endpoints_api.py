"""LLM model endpoint routes (docs/wire-contract.md#llm-model-endpoints) as a caller sees them."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import EndpointEvent, ModelEndpoint


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


@pytest.fixture
def stranger(api):
    return api.as_user("someone-else")


def create(client, body):
    return client.post("/v1/llm/model-endpoints", body, format="json")


def test_guide_create_returns_a_task_id_and_stores_the_desired_state(owner, guide_llama_7b):
    response = create(owner, guide_llama_7b)
    assert response.status_code == 200, response.json()
    task_id = response.json()["endpoint_creation_task_id"]
    assert len(task_id) == 36
    endpoint = owner.get("/v1/llm/model-endpoints/llama-7b").json()
    assert endpoint["status"] == "UPDATE_PENDING"
    assert endpoint["inference_framework"] == "text_generation_inference"
    assert endpoint["inference_framework_image_tag"] == "0.9.3"
    assert endpoint["num_shards"] == 4
    spec = endpoint["spec"]
    assert spec["id"].startswith("end_")
    assert spec["endpoint_type"] == "streaming"
    assert spec["deployment_state"] == {
        "min_workers": 1, "max_workers": 12, "per_worker": 1, "concurrent_requests_per_worker": 250,
        "forwarder_max_concurrency": None, "available_workers": None, "unavailable_workers": None,
    }
    assert spec["resource_state"] == {
        "cpus": "32", "gpus": 4, "memory": "40Gi", "gpu_type": "nvidia-ampere-a10", "storage": "40Gi",
        "nodes_per_worker": 1, "optimize_costs": False,
    }
    assert spec["public_inference"] is True
    assert spec["deployment_name"].startswith("llm-engine-endpoint-id-end-")


def test_create_records_an_event_and_enqueues_the_build_after_commit(owner, guide_llama_7b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert create(owner, guide_llama_7b).status_code == 200
    assert len(callbacks) == 1
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    assert [(e.old_status, e.new_status) for e in EndpointEvent.objects.filter(endpoint=endpoint)] == [("", "UPDATE_PENDING")]


def test_public_endpoint_is_visible_to_others_but_only_the_owner_changes_it(owner, stranger, guide_llama_7b):
    assert create(owner, guide_llama_7b).status_code == 200
    listed = stranger.get("/v1/llm/model-endpoints").json()["model_endpoints"]
    assert [e["name"] for e in listed] == ["llama-7b"]
    assert stranger.get("/v1/llm/model-endpoints/llama-7b").status_code == 200
    update = stranger.put("/v1/llm/model-endpoints/llama-7b", {"max_workers": 2}, format="json")
    assert update.status_code == 403
    assert stranger.delete("/v1/llm/model-endpoints/llama-7b").status_code == 403
    assert ModelEndpoint.objects.get(name="llama-7b").max_workers == 12


def test_private_endpoint_is_404_to_others(owner, stranger, guide_llama_7b):
    assert create(owner, {**guide_llama_7b, "public_inference": False}).status_code == 200
    assert stranger.get("/v1/llm/model-endpoints").json() == {"model_endpoints": []}
    response = stranger.get("/v1/llm/model-endpoints/llama-7b")
    assert response.status_code == 404
    # One space (issue 13: no double spaces; upstream's message had two).
    assert response.json() == {"detail": "Model Endpoint llama-7b was not found."}
    assert stranger.put("/v1/llm/model-endpoints/llama-7b", {"max_workers": 2}, format="json").status_code == 404
    assert stranger.delete("/v1/llm/model-endpoints/llama-7b").status_code == 404


def test_update_with_nulls_keeps_stored_values(owner, guide_llama_7b):
    assert create(owner, guide_llama_7b).status_code == 200
    before = ModelEndpoint.objects.get(name="llama-7b")
    body = {key: None for key in guide_llama_7b if key != "name"}
    body.update({"max_workers": 3, "quantize": None, "checkpoint_path": None, "chat_template_override": None})
    response = owner.put("/v1/llm/model-endpoints/llama-7b", body, format="json")
    assert response.status_code == 200, response.json()
    after = ModelEndpoint.objects.get(name="llama-7b")
    assert after.max_workers == 3
    assert (after.cpus, after.memory, after.gpus, after.min_workers, after.bundle_id) == (
        before.cpus, before.memory, before.gpus, before.min_workers, before.bundle_id)
    assert after.spec_version == before.spec_version + 1
    assert after.status == "UPDATE_PENDING"


def test_update_that_changes_the_image_tag_makes_a_new_bundle(owner, guide_llama_7b):
    create(owner, guide_llama_7b)
    before = ModelEndpoint.objects.get(name="llama-7b")
    assert owner.put("/v1/llm/model-endpoints/llama-7b", {"inference_framework_image_tag": "1.0.0"}, format="json").status_code == 200
    after = ModelEndpoint.objects.get(name="llama-7b")
    assert after.bundle_id != before.bundle_id
    assert after.bundle.spec["tag"] == "1.0.0"


def test_update_merges_metadata_and_labels(owner, guide_llama_7b):
    create(owner, {**guide_llama_7b, "metadata": {"a": 1}, "labels": {"team": "ml"}})
    owner.put("/v1/llm/model-endpoints/llama-7b", {"metadata": {"b": 2}, "labels": {"product": "chat"}}, format="json")
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    assert endpoint.metadata == {"a": 1, "b": 2}
    assert endpoint.labels == {"team": "ml", "product": "chat"}


def test_updates_are_accepted_while_a_build_is_pending_or_failed(owner, guide_llama_7b):
    create(owner, guide_llama_7b)
    ModelEndpoint.objects.filter(name="llama-7b").update(status="UPDATE_FAILED", status_reason="image not found")
    assert owner.put("/v1/llm/model-endpoints/llama-7b", {"max_workers": 2}, format="json").status_code == 200
    assert owner.put("/v1/llm/model-endpoints/llama-7b", {"max_workers": 4}, format="json").status_code == 200
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    assert (endpoint.status, endpoint.status_reason, endpoint.max_workers) == ("UPDATE_PENDING", "", 4)


def test_delete_marks_the_endpoint_and_leaves_teardown_to_the_builder(owner, guide_llama_7b, django_capture_on_commit_callbacks):
    create(owner, guide_llama_7b)
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner.delete("/v1/llm/model-endpoints/llama-7b")
    assert response.status_code == 200
    assert response.json() == {"deleted": True}
    assert len(callbacks) == 1
    assert owner.get("/v1/llm/model-endpoints/llama-7b").json()["status"] == "DELETE_IN_PROGRESS"


def test_client_defaults_infer_hardware_from_the_recommended_table(owner):
    body = {"name": "small", "model_name": "llama-2-7b", "inference_framework": "vllm",
            "inference_framework_image_tag": "0.6.3", "endpoint_type": "streaming", "nodes_per_worker": 1,
            "min_workers": 0, "max_workers": 1, "per_worker": 2, "labels": {}, "metadata": {},
            "trust_remote_code": False, "cpus": None, "gpus": None, "memory": None, "storage": None, "gpu_type": None}
    response = create(owner, body)
    assert response.status_code == 200, response.json()
    endpoint = ModelEndpoint.objects.get(name="small")
    assert (endpoint.gpus, endpoint.gpu_type, endpoint.num_shards) == (1, "nvidia-ampere-a10", 1)
    assert endpoint.framework_args == {}


def test_vllm_extra_args_are_kept_as_framework_args(owner):
    body = {"name": "tuned", "model_name": "llama-2-7b", "inference_framework": "vllm", "min_workers": 1,
            "max_workers": 1, "per_worker": 1, "endpoint_type": "streaming", "max_model_len": 4096,
            "enable_prefix_caching": True, "gpu_memory_utilization": 0.85}
    assert create(owner, body).status_code == 200
    assert ModelEndpoint.objects.get(name="tuned").framework_args == {
        "max_model_len": 4096, "enable_prefix_caching": True, "gpu_memory_utilization": 0.85}


def test_names_may_contain_dots(owner, guide_llama_7b):
    body = {**guide_llama_7b, "name": "llama-2-7b.my-suffix.2023-07-18-12-00-00"}
    assert create(owner, body).status_code == 200
    assert owner.get("/v1/llm/model-endpoints/llama-2-7b.my-suffix.2023-07-18-12-00-00").status_code == 200


def test_list_filters_by_name_and_orders(owner, guide_llama_7b):
    for name in ("b-model", "a-model"):
        create(owner, {**guide_llama_7b, "name": name})
    names = [e["name"] for e in owner.get("/v1/llm/model-endpoints?order_by=alphabetical").json()["model_endpoints"]]
    assert names == ["a-model", "b-model"]
    names = [e["name"] for e in owner.get("/v1/llm/model-endpoints?name=b-model").json()["model_endpoints"]]
    assert names == ["b-model"]


def test_list_uses_a_constant_number_of_queries(owner, guide_llama_7b):
    def queries_for_list():
        with CaptureQueriesContext(connection) as context:
            assert owner.get("/v1/llm/model-endpoints").status_code == 200
        return len(context.captured_queries)

    create(owner, {**guide_llama_7b, "name": "one"})
    few = queries_for_list()
    for index in range(6):
        create(owner, {**guide_llama_7b, "name": f"more-{index}"})
    assert queries_for_list() == few
    with CaptureQueriesContext(connection) as context:
        owner.get("/v1/model-endpoints")
    assert len(context.captured_queries) == few
