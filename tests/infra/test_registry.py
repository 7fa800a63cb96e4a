"""Image checks against moto's ECR."""
import json

import pytest

from llmengine_site.infra import aws as aws_adapter
from llmengine_site.errors import InfraError
from llmengine_site.infra.registry import ImageReference, image_exists, parse_image

REGISTRY = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


@pytest.fixture
def vllm_image(aws):
    """ECR repository `llm-engine/vllm` holding tag 0.6.3."""
    ecr = aws_adapter.client("ecr")
    ecr.create_repository(repositoryName="llm-engine/vllm")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": 1, "digest": "sha256:" + "a" * 64}, "layers": []}
    ecr.put_image(repositoryName="llm-engine/vllm", imageManifest=json.dumps(manifest), imageTag="0.6.3")


def test_existing_tag_in_a_full_ecr_reference_exists(vllm_image):
    assert image_exists(f"{REGISTRY}/llm-engine/vllm:0.6.3") is True


def test_existing_tag_without_registry_host_exists(vllm_image):
    assert image_exists("llm-engine/vllm:0.6.3") is True


def test_missing_tag_does_not_exist(vllm_image):
    assert image_exists(f"{REGISTRY}/llm-engine/vllm:0.9.9") is False


def test_missing_repository_does_not_exist(aws):
    assert image_exists(f"{REGISTRY}/llm-engine/absent:1.0") is False


def test_images_outside_ecr_are_not_checked(aws):
    assert image_exists("ghcr.io/huggingface/text-generation-inference:2.0") is True


def test_unreachable_ecr_is_transient(aws, monkeypatch, settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings.LLME_AWS_MAX_ATTEMPTS = 1
    aws_adapter.reset_clients()

    with pytest.raises(InfraError) as raised:
        image_exists(f"{REGISTRY}/llm-engine/vllm:0.6.3")

    assert raised.value.transient is True


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("vllm", ImageReference(None, "vllm", "latest", None)),
        ("llm-engine/vllm:0.6.3", ImageReference(None, "llm-engine/vllm", "0.6.3", None)),
        (f"{REGISTRY}/a/b:1", ImageReference(REGISTRY, "a/b", "1", None)),
        ("localhost:5000/a:2", ImageReference("localhost:5000", "a", "2", None)),
        ("a/b@sha256:abc", ImageReference(None, "a/b", None, "sha256:abc")),
    ],
)
def test_parse_image(image, expected):
    assert parse_image(image) == expected
