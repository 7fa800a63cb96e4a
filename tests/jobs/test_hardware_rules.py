"""One hardware rule set for both apps (endpoints/resources.py): all hardware fields or none,
and a GPU type must have a node label in LLME_GPU_NODE_LABELS; the same message wherever a
request gives hardware (LLM endpoints, batch completions, batch job bundles, the console)."""
import pytest

from endpoints.models import ModelEndpoint
from jobs.models import BatchJob, DockerImageBatchJobBundle
from tests.jobs.conftest import BUCKET

ALL_OR_NONE = ("All hardware fields (cpus, gpus, memory, storage, and gpu_type when gpus > 0) must be given "
               "together, or none of them to use the recommended hardware; missing: gpus, memory, storage")
UNMAPPED = ("gpu_type: nvidia-hopper-h100 has no node label in LLME_GPU_NODE_LABELS of this deployment; "
            "available: nvidia-ampere-a10")


@pytest.fixture
def owner(api, settings):
    settings.LLME_GPU_NODE_LABELS = {"nvidia-ampere-a10": "nvidia-tesla-a10"}
    return api.as_user("test-user-id")


def batch_v2(owner, **model_config):
    return owner.post("/v2/batch-completions", {
        "output_data_path": f"s3://{BUCKET}/fine-tuned/test-user-id/out.json",
        "content": {"prompts": ["hi"], "max_new_tokens": 4, "temperature": 0.0},
        "model_config": {"model": "llama-2-7b", "checkpoint_path": f"s3://{BUCKET}/fine-tuned/test-user-id/w"},
        **model_config}, format="json")


def test_partial_hardware_is_refused_with_one_message_by_both_apps(owner, guide_llama_7b):
    hardware = {"cpus": 4, "gpus": None, "memory": None, "storage": None, "gpu_type": None}
    endpoint = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, **hardware}, format="json")
    batch = batch_v2(owner, **hardware)
    assert (endpoint.status_code, endpoint.json()["detail"]) == (400, ALL_OR_NONE)
    assert (batch.status_code, batch.json()["detail"]) == (400, ALL_OR_NONE)
    assert not ModelEndpoint.objects.exists() and not BatchJob.objects.exists()


def test_an_unmapped_gpu_type_is_refused_with_one_message_by_both_apps(owner, guide_llama_7b):
    hardware = {"cpus": 8, "gpus": 1, "memory": "40Gi", "storage": "40Gi", "gpu_type": "nvidia-hopper-h100"}
    endpoint = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, **hardware, "num_shards": 1}, format="json")
    batch = batch_v2(owner, **hardware)
    bundle = owner.post("/v1/docker-image-batch-job-bundles", {
        "name": "nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
        "env": {}, "mount_location": "/app/config.json", "resource_requests": hardware}, format="json")
    assert (endpoint.status_code, endpoint.json()["detail"]) == (400, UNMAPPED)
    assert (batch.status_code, batch.json()["detail"]) == (400, UNMAPPED)
    assert bundle.status_code == 400 and bundle.json()["detail"].endswith(UNMAPPED)
    assert not ModelEndpoint.objects.exists() and not BatchJob.objects.exists()
    assert not DockerImageBatchJobBundle.objects.exists()
