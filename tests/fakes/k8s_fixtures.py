"""Fixtures for the fake Kubernetes API server (see tests/fakes/k8s_api.py).

`k8s_api` gives each test an empty cluster with KEDA installed, a kubeconfig pointing at it
(KUBECONFIG set, adapter cache reset), and yields the `FakeKubernetesApi` for control and
assertions. Mark a test `@pytest.mark.k8s_crds()` for a cluster without KEDA, or
`@pytest.mark.k8s_crds("keda.sh/v1alpha1", "leaderworkerset.x-k8s.io/v1")` to choose the CRDs.
"""
import pytest

from tests.fakes.k8s_api import FakeKubernetesApi, FakeKubernetesServer

DEFAULT_CRDS = ("keda.sh/v1alpha1",)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "k8s_crds(*group_versions): CRD groups the fake k8s_api serves (default: KEDA)"
    )


@pytest.fixture(scope="session")
def k8s_server():
    """The fake API server, one per test session, on 127.0.0.1:<free port>."""
    server = FakeKubernetesServer(FakeKubernetesApi()).start()
    yield server
    server.stop()


def write_kubeconfig(path, server_url: str, token: str, namespace: str = "llm-engine") -> None:
    path.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: {server_url}\n"
        f"users:\n- name: fake\n  user:\n    token: {token}\n"
        f"contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\n"
        "current-context: fake\n"
    )


@pytest.fixture
def k8s_api(k8s_server, tmp_path, monkeypatch, request) -> FakeKubernetesApi:
    """An empty fake cluster reachable through KUBECONFIG; yields its `FakeKubernetesApi`."""
    from llmengine_site.infra.kube import reset_kube_client

    marker = request.node.get_closest_marker("k8s_crds")
    crds = tuple(marker.args) if marker else DEFAULT_CRDS
    api = k8s_server.api
    api.reset(crds=crds)
    api.token = "fake-token"  # a test may have changed it to check 401 handling
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, k8s_server.url, api.token)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    for variable in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(variable, raising=False)  # never pick a real in-cluster config
    reset_kube_client()
    yield api
    reset_kube_client()
