"""Fixtures for API tests: an authenticated DRF test client, a clean Redis, and the official
client pointed at a live server."""
import base64
import contextlib
import os

import pytest
import redis
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def clean_redis():
    """Tests share Redis database 15 (cache and broker): start each from empty."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    yield


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:".encode()).decode()


class CallerClient(APIClient):
    """APIClient that speaks as a named user, the way the official client does (Basic auth)."""

    def as_user(self, username: str) -> "CallerClient":
        client = CallerClient()
        client.credentials(HTTP_AUTHORIZATION=basic(username))
        return client


@pytest.fixture
def api(db) -> CallerClient:
    return CallerClient()


@contextlib.contextmanager
def official_client(base_path: str, api_key: str = "test-user-id"):
    """The official `scale-llm-engine` client module, pointed at `base_path` (trailing slash)."""
    import llmengine.api_engine as engine

    engine.set_base_path(base_path)
    engine.set_api_key(api_key)
    try:
        yield engine
    finally:
        engine.set_base_path(None)
        engine.set_api_key(None)


@pytest.fixture
def llmengine_client(live_server, django_db_serialized_rollback):
    """The official client, talking to a live (WSGI) server as `test-user-id`."""
    with official_client(live_server.url + "/") as engine:
        yield engine


GUIDE_LLAMA_7B = {
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
    "metadata": {},
}


@pytest.fixture
def guide_llama_7b() -> dict:
    """The llama-7b TGI create body of the self-hosting guide, verbatim."""
    return dict(GUIDE_LLAMA_7B)
