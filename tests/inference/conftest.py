"""Endpoints in front of local model servers, reached through the live gateway."""
import httpx
import pytest

from tests.fixtures_api import GUIDE_LLAMA_7B, official_client

VLLM_BODY = {"name": "llama-vllm", "model_name": "llama-2-7b", "inference_framework": "vllm",
             "inference_framework_image_tag": "0.6.3", "endpoint_type": "streaming", "min_workers": 1,
             "max_workers": 2, "per_worker": 1}


def create(gateway, body, user="test-user-id"):
    response = httpx.post(f"{gateway}/v1/llm/model-endpoints", json=body, auth=(user, ""), timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture
def client_at(gateway):
    """The official client pointed at the live gateway, as `test-user-id`."""
    with official_client(gateway + "/") as engine:
        yield engine


@pytest.fixture
def tgi(gateway, model_server):
    """The guide's llama-7b TGI endpoint, served by a local TGI-protocol server."""
    server = model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B)
    return server


@pytest.fixture
def vllm(gateway, model_server):
    """A vLLM endpoint `llama-vllm`, served by a local vLLM-protocol (OpenAI) server."""
    server = model_server("vllm")
    create(gateway, VLLM_BODY)
    return server
