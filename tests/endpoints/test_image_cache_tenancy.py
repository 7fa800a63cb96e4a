"""Image caches pre-pull platform and framework images only: a tenant's own bundle image never
runs on every node of its GPU type (nor in the control plane's namespace)."""
import pytest

from endpoints.builder import endpoint_sync
from endpoints.manifests import render_image_cache_daemonset
from endpoints.models import ModelEndpoint
from endpoints.reconciler import reconcile_once
from llmengine_site.infra.kube import get_kube


@pytest.fixture
def owner(api):
    return api.as_user("team-a")


def _tenant_gpu_endpoint(owner) -> ModelEndpoint:
    bundle = owner.post("/v2/model-bundles", {
        "name": "private-model", "schema_location": "s3://bucket/schema.json",
        "flavor": {"flavor": "runnable_image", "repository": "team-a/private-model", "tag": "7",
                   "command": ["python", "-m", "serve"]},
    }, format="json")
    assert bundle.status_code == 200, bundle.json()
    response = owner.post("/v1/model-endpoints", {
        "name": "private-model", "model_bundle_id": bundle.json()["model_bundle_id"], "endpoint_type": "sync",
        "metadata": {}, "cpus": 4, "gpus": 1, "gpu_type": "nvidia-ampere-a10", "memory": "8Gi", "storage": "10Gi",
        "min_workers": 1, "max_workers": 1, "per_worker": 1, "labels": {"team": "a", "product": "private"},
    }, format="json")
    assert response.status_code == 200, response.json()
    return ModelEndpoint.objects.get(name="private-model")


def test_image_cache_holds_framework_images_but_never_a_tenant_bundle_image(
        owner, guide_llama_7b, k8s_api, settings):
    chart_daemonset = render_image_cache_daemonset("nvidia-ampere-a10", [settings.LLME_FORWARDER_IMAGE])
    chart_daemonset["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    get_kube().apply(chart_daemonset)
    tenant = _tenant_gpu_endpoint(owner)
    endpoint_sync(tenant.id)
    llm = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert llm.status_code == 200, llm.json()
    endpoint_sync(ModelEndpoint.objects.get(name="llama-7b").id)
    reconcile_once(get_kube())
    (daemonset,) = k8s_api.objects(kind="DaemonSet")
    images = [c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]]
    assert images == [settings.LLME_FORWARDER_IMAGE, "text-generation-inference:0.9.3"]
    assert not any("private-model" in image for image in images)
