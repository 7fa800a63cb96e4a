"""The official `scale-llm-engine==0.0.0b45` client against a live server
(docs/wire-contract.md#the-official-client)."""
import pytest
from llmengine import Model
from llmengine.errors import NotFoundError

from endpoints.models import ModelEndpoint

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_model_create_with_client_defaults_infers_hardware(llmengine_client):
    response = Model.create(name="llama-2-7b-test", model="llama-2-7b", inference_framework_image_tag="0.6.3")
    assert response.endpoint_creation_task_id
    endpoint = ModelEndpoint.objects.get(name="llama-2-7b-test")
    assert (endpoint.inference_framework, endpoint.endpoint_type, endpoint.gpus) == ("vllm", "streaming", 1)
    assert (endpoint.min_workers, endpoint.max_workers, endpoint.per_worker) == (0, 1, 2)


def test_model_create_with_explicit_hardware_then_get_and_list(llmengine_client):
    Model.create(
        name="llama-tgi", model="llama-7b", inference_framework="text_generation_inference",
        inference_framework_image_tag="0.9.3", num_shards=2, cpus=8, memory="32Gi", storage="40Gi", gpus=2,
        gpu_type="nvidia-ampere-a10", min_workers=1, max_workers=2, per_worker=1, labels={"team": "ml"},
    )
    got = Model.get("llama-tgi")
    assert got.name == "llama-tgi"
    assert got.status == "UPDATE_PENDING"
    assert got.spec.resource_state.gpus == 2
    assert got.spec.deployment_state.concurrent_requests_per_worker >= 1
    assert [m.name for m in Model.list().model_endpoints] == ["llama-tgi"]


def test_model_update_with_the_nulls_the_client_sends_keeps_stored_values(llmengine_client):
    Model.create(name="upd", model="llama-2-7b", inference_framework_image_tag="0.6.3", max_workers=1)
    before = ModelEndpoint.objects.get(name="upd")
    Model.update("upd", max_workers=3)
    after = ModelEndpoint.objects.get(name="upd")
    assert after.max_workers == 3
    assert (after.bundle_id, after.cpus, after.gpus, after.model_name) == (before.bundle_id, before.cpus, before.gpus, "llama-2-7b")


def test_model_delete_then_get_shows_deletion_in_progress(llmengine_client):
    Model.create(name="gone", model="llama-2-7b", inference_framework_image_tag="0.6.3")
    assert Model.delete("gone").deleted is True
    assert Model.get("gone").status == "DELETE_IN_PROGRESS"


def test_model_get_of_unknown_endpoint_raises_not_found(llmengine_client):
    with pytest.raises(NotFoundError):
        Model.get("does-not-exist")
