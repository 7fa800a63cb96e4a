"""The Kubernetes adapter, over HTTP, against the fake API server."""
import pytest

from llmengine_site.errors import InfraError
from llmengine_site.infra.kube import NO_CLUSTER_MESSAGE, get_kube, reset_kube_client

NAMESPACE = "llm-engine"


def config_map(name: str, data: dict | None = None, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "data": data or {"key": "value"},
    }


def test_apply_twice_stores_one_unchanged_object(k8s_api):
    kube = get_kube()
    first = kube.apply(config_map("settings"))
    second = kube.apply(config_map("settings"))

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert len(k8s_api.objects(kind="ConfigMap")) == 1


def test_apply_uses_server_side_apply_with_our_field_manager(k8s_api):
    get_kube().apply(config_map("settings"))

    request = k8s_api.requests[-1]
    assert request.method == "PATCH"
    assert request.content_type == "application/apply-patch+yaml"
    assert request.query == {"fieldManager": "llm-engine", "force": "true"}


def test_apply_changes_update_the_stored_object(k8s_api):
    kube = get_kube()
    kube.apply(config_map("settings", {"key": "old"}))
    updated = kube.apply(config_map("settings", {"key": "new"}))

    assert updated["data"] == {"key": "new"}
    assert k8s_api.get_object("ConfigMap", NAMESPACE, "settings")["data"] == {"key": "new"}


def test_get_missing_object_returns_none(k8s_api):
    assert get_kube().get("apps/v1", "Deployment", "absent", NAMESPACE) is None


def test_get_returns_the_stored_object(k8s_api):
    get_kube().apply(config_map("settings"))

    found = get_kube().get("v1", "ConfigMap", "settings", NAMESPACE)

    assert found["data"] == {"key": "value"}
    assert found["kind"] == "ConfigMap"


def test_namespace_defaults_to_the_endpoint_namespace(k8s_api, settings):
    settings.LLME_ENDPOINT_NAMESPACE = "endpoints"
    obj = config_map("settings")
    del obj["metadata"]["namespace"]
    get_kube().apply(obj)

    assert get_kube().get("v1", "ConfigMap", "settings")["metadata"]["namespace"] == "endpoints"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("team=infra", ["a", "b"]),
        ({"team": "infra", "tier": "gpu"}, ["a"]),
        ("team==infra,tier!=gpu", ["b"]),
        ("tier in (gpu,cpu)", ["a", "c"]),
        ("tier notin (gpu)", ["b", "c"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b"]),
        (None, ["a", "b", "c"]),
    ],
)
def test_list_filters_by_label_selector(k8s_api, selector, expected):
    kube = get_kube()
    kube.apply(config_map("a", labels={"team": "infra", "tier": "gpu"}))
    kube.apply(config_map("b", labels={"team": "infra"}))
    kube.apply(config_map("c", labels={"team": "ml", "tier": "cpu"}))

    found = kube.list("v1", "ConfigMap", NAMESPACE, label_selector=selector)

    assert [item["metadata"]["name"] for item in found] == expected
    assert all(item["kind"] == "ConfigMap" and item["apiVersion"] == "v1" for item in found)


def test_list_is_scoped_to_the_namespace(k8s_api):
    kube = get_kube()
    kube.apply(config_map("here"))
    kube.apply({**config_map("elsewhere"), "metadata": {"name": "elsewhere", "namespace": "other"}})

    assert [item["metadata"]["name"] for item in kube.list("v1", "ConfigMap", NAMESPACE)] == ["here"]


def test_a_metadata_only_list_asks_for_partial_metadata_and_carries_no_data(k8s_api):
    kube = get_kube()
    kube.apply(config_map("settings", {"big": "x" * 1000}, labels={"team": "a"}))
    (item,) = kube.list("v1", "ConfigMap", NAMESPACE, {"team": "a"}, metadata_only=True)
    assert "data" not in item and item["metadata"]["name"] == "settings"
    assert item["metadata"]["labels"] == {"team": "a"}
    (full,) = kube.list("v1", "ConfigMap", NAMESPACE, {"team": "a"})
    assert full["data"] == {"big": "x" * 1000}


def test_delete_existing_returns_true_and_missing_returns_false(k8s_api):
    kube = get_kube()
    kube.apply(config_map("settings"))

    assert kube.delete("v1", "ConfigMap", "settings", NAMESPACE) is True
    assert kube.delete("v1", "ConfigMap", "settings", NAMESPACE) is False
    assert k8s_api.objects(kind="ConfigMap") == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_throttling_are_transient(k8s_api, status):
    k8s_api.fail_next(status=status)

    with pytest.raises(InfraError) as raised:
        get_kube().get("v1", "ConfigMap", "settings", NAMESPACE)

    assert raised.value.transient is True
    assert raised.value.status == status


def test_dropped_connection_is_transient(k8s_api):
    k8s_api.fail_next(status="drop", times=5)

    with pytest.raises(InfraError) as raised:
        get_kube().apply(config_map("settings"))

    assert raised.value.transient is True


def test_timeout_is_transient(k8s_api, settings):
    settings.LLME_K8S_READ_TIMEOUT_SECONDS = 0.3
    k8s_api.fail_next(status="hang", method="PATCH")

    with pytest.raises(InfraError) as raised:
        get_kube().apply(config_map("settings"))

    assert raised.value.transient is True


def test_one_dropped_connection_on_a_read_is_retried(k8s_api):
    k8s_api.fail_next(status="drop", times=1, method="GET")

    assert get_kube().get("v1", "ConfigMap", "settings", NAMESPACE) is None


def test_unreachable_api_server_is_transient(k8s_api, k8s_server, tmp_path, monkeypatch):
    from tests.fakes.k8s_fixtures import write_kubeconfig

    write_kubeconfig(tmp_path / "dead", "http://127.0.0.1:9", k8s_api.token)  # discard port
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "dead"))
    reset_kube_client()

    with pytest.raises(InfraError) as raised:
        get_kube().get("v1", "ConfigMap", "settings", NAMESPACE)

    assert raised.value.transient is True


def test_invalid_object_is_permanent_with_the_api_message(k8s_api):
    message = 'Deployment.apps "x" is invalid: spec.template.spec.containers[0].image: Required value'
    k8s_api.fail_next(status=422, message=message)

    with pytest.raises(InfraError) as raised:
        get_kube().apply(config_map("settings"))

    assert raised.value.transient is False
    assert raised.value.status == 422
    assert message in raised.value.message


def test_patching_a_missing_object_is_permanent_with_the_api_message(k8s_api):
    with pytest.raises(InfraError) as raised:
        get_kube().patch("v1", "ConfigMap", "missing", NAMESPACE, {"data": {"a": "b"}})

    assert raised.value.transient is False
    assert raised.value.status == 404
    assert 'configmaps "missing" not found' in raised.value.message


def test_client_errors_are_permanent(k8s_api):
    k8s_api.fail_next(status=403)

    with pytest.raises(InfraError) as raised:
        get_kube().apply(config_map("settings"))

    assert raised.value.transient is False
    assert raised.value.status == 403


def test_has_api_sees_installed_keda(k8s_api):
    kube = get_kube()

    assert kube.has_api("keda.sh/v1alpha1", "ScaledObject") is True
    assert kube.has_api("keda.sh/v1alpha1", "TriggerAuthentication") is True
    assert kube.has_api("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") is False
    assert kube.has_api("apps/v1", "Deployment") is True
    assert kube.has_api("v1", "Service") is True


@pytest.mark.k8s_crds()
def test_has_api_is_false_without_keda(k8s_api):
    assert get_kube().has_api("keda.sh/v1alpha1", "ScaledObject") is False


@pytest.mark.k8s_crds()
def test_applying_a_kind_whose_crd_is_missing_is_permanent(k8s_api):
    scaled_object = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                     "metadata": {"name": "x", "namespace": NAMESPACE}, "spec": {}}

    with pytest.raises(InfraError) as raised:
        get_kube().apply(scaled_object)

    assert raised.value.transient is False
    assert "is its CRD installed?" in raised.value.message


def test_has_api_answers_are_cached_until_forgotten(k8s_api):
    kube = get_kube()
    assert kube.has_api("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") is False
    k8s_api.install_crd("leaderworkerset.x-k8s.io/v1")

    assert kube.has_api("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") is False
    kube.forget_discovery()
    assert kube.has_api("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") is True


def test_patch_merges_and_null_removes(k8s_api):
    kube = get_kube()
    kube.apply(config_map("settings", {"keep": "1", "drop": "2"}))

    patched = kube.patch("v1", "ConfigMap", "settings", NAMESPACE, {"data": {"drop": None, "new": "3"}})

    assert patched["data"] == {"keep": "1", "new": "3"}


def test_missing_kubeconfig_is_a_permanent_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    reset_kube_client()
    try:
        with pytest.raises(InfraError) as raised:
            get_kube()
    finally:
        reset_kube_client()

    assert raised.value.transient is False
    assert raised.value.message == NO_CLUSTER_MESSAGE


def test_wrong_token_is_a_permanent_error(k8s_api):
    k8s_api.token = "another-token"
    try:
        with pytest.raises(InfraError) as raised:
            get_kube().get("v1", "ConfigMap", "settings", NAMESPACE)
    finally:
        k8s_api.token = "fake-token"

    assert raised.value.transient is False
    assert raised.value.status == 401
