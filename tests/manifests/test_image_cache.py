"""Image-cache DaemonSets: one per GPU type, pre-pulling the endpoints' images."""
import pytest

from endpoints.manifests import render_image_cache_daemonset
from tests.manifests.validation import assert_valid


@pytest.mark.parametrize("gpu_type, short", [
    ("nvidia-ampere-a10", "a10"), ("nvidia-tesla-t4", "t4"), ("nvidia-ampere-a100", "a100"),
    ("nvidia-hopper-h100", "h100"), ("nvidia-hopper-h100-1g20gb", "h100-1g20gb"),
])
def test_image_cache_daemonset_is_named_after_the_short_gpu_name(gpu_type, short):
    daemonset = render_image_cache_daemonset(gpu_type, ["vllm:0.6.3"])
    assert daemonset["metadata"]["name"] == f"llm-engine-image-cache-{short}"
    assert_valid(daemonset)


def test_image_cache_daemonset_keeps_one_sleeping_container_per_image_on_that_gpu_type():
    daemonset = render_image_cache_daemonset("nvidia-ampere-a10", ["tgi:0.9.3", "vllm:0.6.3", "tgi:0.9.3"])
    assert daemonset["metadata"]["namespace"] == "llm-engine"
    assert daemonset["metadata"]["labels"]["llm-engine.io/image-cache"] == "true"
    assert daemonset["metadata"]["labels"]["llm-engine.io/gpu-type"] == "nvidia-ampere-a10"
    pod = daemonset["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == ["tgi:0.9.3", "vllm:0.6.3"]
    assert all(c["command"] == ["/bin/sh", "-c", "sleep infinity"] for c in pod["containers"])
    assert pod["nodeSelector"]["k8s.amazonaws.com/accelerator"] == "nvidia-tesla-a10"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_image_cache_for_an_unmapped_gpu_type_or_no_images_is_refused(settings):
    with pytest.raises(ValueError, match="no node label mapping"):
        render_image_cache_daemonset("nvidia-blackwell-b200", ["x:1"])
    with pytest.raises(ValueError, match="at least one image"):
        render_image_cache_daemonset("nvidia-ampere-a10", [])


def test_image_cache_lives_in_the_image_cache_namespace_when_configured(settings):
    settings.LLME_IMAGE_CACHE_NAMESPACE = "llm-engine-system"
    assert render_image_cache_daemonset("nvidia-tesla-t4", ["a:1"])["metadata"]["namespace"] == "llm-engine-system"
