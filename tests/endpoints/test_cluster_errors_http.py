"""A cluster error reaching the HTTP API is an answer with a message, never a 500
(docs/design.md#errors): transient (unreachable, 5xx, 429) → 503, permanent → 409 when the
cluster's state refuses the request (the object is missing or conflicts), else 400."""
import socket

import pytest

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from llmengine_site.infra.kube import reset_kube_client
from tests.fakes.k8s_fixtures import write_kubeconfig


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def unreachable_cluster(tmp_path, monkeypatch) -> None:
    """From now on the kubeconfig names an API server that refuses connections."""
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = tmp_path / "unreachable-kubeconfig"
    write_kubeconfig(kubeconfig, f"http://127.0.0.1:{port}", "fake-token")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    reset_kube_client()


def built_endpoint(owner, body) -> ModelEndpoint:
    response = owner.post("/v1/llm/model-endpoints", body, format="json")
    assert response.status_code == 200, response.json()
    endpoint = ModelEndpoint.objects.get(name=body["name"])
    endpoint_sync(endpoint.id)
    return ModelEndpoint.objects.get(pk=endpoint.pk)


def test_restart_with_the_cluster_unreachable_answers_503_with_a_message(owner, guide_llama_7b, k8s_api,
                                                                         tmp_path, monkeypatch):
    endpoint = built_endpoint(owner, guide_llama_7b)
    unreachable_cluster(tmp_path, monkeypatch)
    response = owner.post(f"/v1/model-endpoints/{endpoint.id}/restart")
    assert response.status_code == 503, response.content
    detail = response.json()["detail"]
    assert "cannot reach the API server" in detail and "Retry later" in detail
    assert ModelEndpoint.objects.get(pk=endpoint.pk).status == endpoint.status


def test_restart_with_the_cluster_failing_answers_503(owner, guide_llama_7b, k8s_api):
    endpoint = built_endpoint(owner, guide_llama_7b)
    k8s_api.fail_next(status=500, times=5, method="PATCH", path_contains="/deployments/")
    response = owner.post(f"/v1/model-endpoints/{endpoint.id}/restart")
    assert response.status_code == 503, response.content
    assert "Retry later" in response.json()["detail"]


def test_restart_of_an_endpoint_never_built_answers_409_naming_the_missing_deployment(owner, guide_llama_7b, k8s_api):
    response = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    endpoint = ModelEndpoint.objects.get(name=guide_llama_7b["name"])
    response = owner.post(f"/v1/model-endpoints/{endpoint.id}/restart")
    assert response.status_code == 409, response.content
    assert "not found" in response.json()["detail"]


def test_restart_refused_by_the_cluster_answers_400_with_its_message(owner, guide_llama_7b, k8s_api):
    endpoint = built_endpoint(owner, guide_llama_7b)
    k8s_api.fail_next(status=403, method="PATCH", path_contains="/deployments/",
                      message="deployments.apps is forbidden: cannot patch")
    response = owner.post(f"/v1/model-endpoints/{endpoint.id}/restart")
    assert response.status_code == 400, response.content
    assert "forbidden" in response.json()["detail"]
