"""The builder against a real cluster: create → ready → delete.

Skipped unless LLME_K8S_LIVE=1 and KUBECONFIG points at a cluster (there is none on CI). The
endpoint runs a tiny CPU image as its model container, so any cluster with KEDA works:

    LLME_K8S_LIVE=1 KUBECONFIG=~/.kube/config LLME_ENDPOINT_NAMESPACE=llm-engine-test \\
      LLME_FORWARDER_IMAGE=<your llm-engine image> make test PYTEST_ARGS="-m k8s_live"
"""
import os
import time

import pytest

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from endpoints.reconciler import reconcile_once
from llmengine_site.infra.kube import get_kube

pytestmark = [
    pytest.mark.k8s_live,
    pytest.mark.skipif(os.environ.get("LLME_K8S_LIVE") != "1", reason="needs a real cluster: set LLME_K8S_LIVE=1"),
]


def test_cpu_endpoint_becomes_ready_on_a_real_cluster_and_leaves_nothing_on_delete(api, settings):
    settings.LLME_ENDPOINT_NAMESPACE = os.environ.get("LLME_ENDPOINT_NAMESPACE", "llm-engine-test")
    owner = api.as_user("live-test")
    bundle = owner.post("/v2/model-bundles", {
        "name": "live-echo", "schema_location": "none", "flavor": {
            "flavor": "runnable_image", "repository": "docker.io/library/python", "tag": "3.11-slim",
            "command": ["python", "-m", "http.server", "5005"], "healthcheck_route": "/"}}, format="json")
    response = owner.post("/v1/model-endpoints", {
        "name": "live-echo", "model_bundle_id": bundle.json()["model_bundle_id"], "endpoint_type": "sync",
        "metadata": {}, "cpus": "250m", "gpus": 0, "memory": "256Mi", "storage": "1Gi", "min_workers": 1,
        "max_workers": 1, "per_worker": 1, "labels": {}}, format="json")
    assert response.status_code == 200, response.json()
    endpoint = ModelEndpoint.objects.get(name="live-echo")
    endpoint_sync(endpoint.id)
    deadline = time.monotonic() + 600
    while ModelEndpoint.objects.get(pk=endpoint.id).status != "READY":
        assert time.monotonic() < deadline, ModelEndpoint.objects.get(pk=endpoint.id).status_reason
        reconcile_once(get_kube(), prune=False)
        time.sleep(5)
    owner.delete(f"/v1/model-endpoints/{endpoint.id}")
    endpoint_sync(endpoint.id)
    selector = f"llm-engine.io/endpoint-id={endpoint.id}"
    assert get_kube().list("apps/v1", "Deployment", settings.LLME_ENDPOINT_NAMESPACE, selector) == []
    assert not ModelEndpoint.objects.filter(pk=endpoint.id).exists()
