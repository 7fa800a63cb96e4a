"""Every invalid field answers 4xx naming the field and the rule, and nothing is written."""
import json

import pytest

from endpoints.models import ModelBundle, ModelEndpoint


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def _detail_text(response) -> str:
    return json.dumps(response.json())


BAD_INPUTS = [
    ({"inference_framework": "tensorflow"}, 422, "inference_framework"),
    ({"endpoint_type": "batch"}, 422, "endpoint_type"),
    ({"min_workers": -1}, 422, "min_workers"),
    ({"min_workers": 5, "max_workers": 2}, 422, "min_workers"),
    ({"max_workers": 100000}, 422, "max_workers"),
    ({"num_shards": 2}, 400, "num_shards"),
    ({"gpu_type": None}, 400, "gpu_type"),
    ({"memory": "40Gb"}, 422, "memory"),
    ({"cpus": "lots"}, 422, "cpus"),
    ({"cpus": 200}, 400, "cpus"),
    ({"name": "Not A Label!"}, 422, "name"),
    ({"name": "x" * 64}, 422, "name"),
    ({"labels": {"team": "has spaces"}}, 422, "labels"),
    ({"labels": {"llm-engine.io/owner": "me"}}, 422, "reserved"),
    ({"metadata": ["not", "an", "object"]}, 422, "metadata"),
    ({"metadata": {"blob": "x" * 70000}}, 422, "metadata"),
    ({"metadata": {"_llm": {}}}, 422, "reserved"),
    ({"quantize": "awq"}, 400, "quantize"),
    ({"endpoint_type": "sync"}, 400, "endpoint_type"),
    ({"checkpoint_path": "/local/weights"}, 422, "checkpoint_path"),
    ({"default_callback_url": "not a url"}, 422, "default_callback_url"),
    ({"post_inference_hooks": ["billing", "nope"]}, 422, "post_inference_hooks"),
    ({"queue_message_timeout_seconds": 50000}, 422, "queue_message_timeout_seconds"),
    ({"chat_template_override": "{{ x }}"}, 400, "chat_template_override"),
    ({"max_model_len": "long"}, 422, "max_model_len"),
    ({"gpus": 4, "cpus": None, "memory": None, "storage": None}, 400, "cpus"),
]


@pytest.mark.parametrize("change, status, mentions", BAD_INPUTS, ids=[str(c) for c, _, _ in BAD_INPUTS])
def test_bad_field_is_refused_naming_it_and_nothing_is_written(owner, guide_llama_7b, change, status, mentions):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, **change}, format="json")
    assert response.status_code == status, response.json()
    assert mentions in _detail_text(response)
    assert ModelEndpoint.objects.count() == 0
    assert ModelBundle.objects.count() == 0


def test_missing_required_field_is_a_422_list(owner, guide_llama_7b):
    body = dict(guide_llama_7b)
    del body["model_name"]
    response = owner.post("/v1/llm/model-endpoints", body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "model_name"]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", "null", "\"text\""])
def test_non_object_bodies_are_refused(owner, raw):
    response = owner.generic("POST", "/v1/llm/model-endpoints", raw, content_type="application/json")
    assert response.status_code == 422
    assert ModelEndpoint.objects.count() == 0


def test_duplicate_name_is_refused_even_across_teams(owner, api, guide_llama_7b):
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    again = api.as_user("other-team").post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert again.status_code == 400
    assert again.json() == {"detail": "The specified model endpoint already exists."}
    assert ModelEndpoint.objects.count() == 1


def test_unknown_keys_are_ignored(owner, guide_llama_7b):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "future_field": 1}, format="json")
    assert response.status_code == 200


def test_model_without_known_weights_needs_a_checkpoint(owner, guide_llama_7b):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "model_name": "my-own-13b"}, format="json")
    assert response.status_code == 400
    assert "checkpoint_path" in response.json()["detail"]


def test_missing_image_in_registry_is_404(owner, guide_llama_7b, settings, aws):
    """The registry check runs against moto's ECR: the repository exists, the tag does not."""
    import boto3

    ecr = boto3.client("ecr", region_name=settings.LLME_AWS_REGION)
    registry = ecr.create_repository(repositoryName="text-generation-inference")["repository"]["repositoryUri"]
    settings.LLME_DOCKER_REPO_PREFIX = registry.rsplit("/", 1)[0]
    settings.LLME_REGISTRY_CHECK = True
    response = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "The specified docker image could not be found."}
    assert ModelEndpoint.objects.count() == 0


def test_a_node_label_given_as_gpu_type_is_named_and_the_valid_choices_listed(owner, guide_llama_7b):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "gpu_type": "nvidia-tesla-a10"}, format="json")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "gpu_type"]
    assert error["msg"].startswith('"nvidia-tesla-a10" is not a valid choice; valid choices: nvidia-tesla-t4, '
                                   "nvidia-ampere-a10, ")
    assert error["msg"].endswith("(nvidia-tesla-a10 is the node label of gpu_type nvidia-ampere-a10)")
    assert "  " not in error["msg"]


def test_an_unknown_framework_is_named_with_the_valid_ones(owner, guide_llama_7b):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "inference_framework": "tgi"}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        '"tgi" is not a valid choice; valid choices: deepspeed, text_generation_inference, vllm, lightllm, '
        "tensorrt_llm, sglang")


def test_not_found_messages_name_the_endpoint_with_single_spaces(owner):
    for path in ("/v1/llm/model-endpoints/llama-7bb", "/v1/model-endpoints/end_nope"):
        detail = owner.get(path).json()["detail"]
        assert ("llama-7bb" in detail or "end_nope" in detail) and "  " not in detail, detail
