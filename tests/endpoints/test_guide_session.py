"""The self-hosting guide's curl session, verbatim but for the port (self_hosting_guide.md)."""
import json
import subprocess

import pytest

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def curl(*args: str) -> dict:
    out = subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


CREATE_BODY = """{
        "name": "llama-7b",
        "model_name": "llama-7b",
        "source": "hugging_face",
        "inference_framework": "text_generation_inference",
        "inference_framework_image_tag": "0.9.3",
        "num_shards": 4,
        "endpoint_type": "streaming",
        "cpus": 32,
        "gpus": 4,
        "memory": "40Gi",
        "storage": "40Gi",
        "gpu_type": "nvidia-ampere-a10",
        "min_workers": 1,
        "max_workers": 12,
        "per_worker": 1,
        "labels": {},
        "metadata": {}
    }"""


def test_guide_session_lists_creates_and_shows_the_public_endpoint(live_server):
    base = live_server.url
    assert curl("-X", "GET", "-H", "Content-Type: application/json", "-u", "test-user-id:",
                f"{base}/v1/llm/model-endpoints") == {"model_endpoints": []}
    created = curl("-X", "POST", f"{base}/v1/llm/model-endpoints", "-H", "Content-Type: application/json",
                   "-d", CREATE_BODY, "-u", "test_user_id:")
    assert set(created) == {"endpoint_creation_task_id"}
    listed = curl("-X", "GET", "-H", "Content-Type: application/json", "-u", "test-user-id:",
                  f"{base}/v1/llm/model-endpoints")
    assert [e["name"] for e in listed["model_endpoints"]] == ["llama-7b"]
    assert listed["model_endpoints"][0]["spec"]["created_by"] == "test_user_id"
