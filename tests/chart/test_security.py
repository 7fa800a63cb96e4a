"""Least privilege: namespaced RBAC only, exactly the kinds we manage; non-root pods."""
import pytest

from tests.chart.helm import REQUIRED_SETS, containers, find, render, sets

ENDPOINT_NAMESPACE = "llm-engine-endpoints"
WRITE = {"get", "list", "watch", "create", "update", "patch", "delete"}


@pytest.fixture(scope="module")
def objects():
    return render("--api-versions", "keda.sh/v1alpha1")


def _rules(role: dict) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_no_cluster_scoped_rbac_at_all(objects):
    kinds = {obj["kind"] for obj in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


def test_nothing_binds_cluster_admin_or_uses_wildcards(objects):
    for obj in objects:
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert obj["roleRef"]["name"] not in ("cluster-admin", "admin", "edit")
            assert obj["roleRef"]["kind"] == "Role"
        if obj["kind"] in ("Role", "ClusterRole"):
            for rule in obj["rules"]:
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_endpoint_namespace_role_covers_exactly_the_managed_kinds(objects):
    role = find(objects, "Role", "llm-engine-endpoints")
    assert role["metadata"]["namespace"] == ENDPOINT_NAMESPACE
    assert _rules(role) == {
        ("apps", "deployments"): WRITE,
        ("apps", "daemonsets"): WRITE,
        ("", "services"): WRITE,
        ("", "configmaps"): WRITE,
        ("", "secrets"): WRITE,
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"list"},
        ("policy", "poddisruptionbudgets"): WRITE,
        ("autoscaling", "horizontalpodautoscalers"): WRITE,
        ("keda.sh", "scaledobjects"): WRITE,
        ("keda.sh", "triggerauthentications"): WRITE,
        ("leaderworkerset.x-k8s.io", "leaderworkersets"): WRITE,
        ("batch", "jobs"): WRITE,
        ("batch", "cronjobs"): WRITE,
    }


def test_release_namespace_role_only_patches_image_cache_daemonsets(objects):
    role = find(objects, "Role", "llm-engine-image-cache")
    assert role["metadata"]["namespace"] == "llm-engine"
    assert _rules(role) == {("apps", "daemonsets"): {"get", "list", "watch", "update", "patch"}}


@pytest.mark.parametrize("binding, namespace", [("llm-engine-endpoints", ENDPOINT_NAMESPACE),
                                                ("llm-engine-image-cache", "llm-engine")])
def test_roles_are_bound_to_the_llm_engine_service_account(objects, binding, namespace):
    obj = find(objects, "RoleBinding", binding)
    assert obj["metadata"]["namespace"] == namespace
    assert obj["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": binding}
    assert obj["subjects"] == [{"kind": "ServiceAccount", "name": "llm-engine", "namespace": "llm-engine"}]


def _pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "DaemonSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


@pytest.mark.parametrize("extra", [[], sets(*REQUIRED_SETS)], ids=["sample", "values.yaml"])
def test_every_pod_runs_non_root_with_no_capabilities(extra):
    objects = render(*extra, values=None) if extra else render()
    specs = dict(_pod_specs(objects))
    assert len(specs) >= 8
    for name, pod in specs.items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] == 10001, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "privileged" not in context, name


def test_read_only_root_filesystems_get_a_writable_tmp(objects):
    for name in ("llm-engine", "llm-engine-endpoint-builder", "llm-engine-cacher"):
        deployment = find(objects, "Deployment", name)
        (container,) = containers(deployment)
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in deployment["spec"]["template"]["spec"]["volumes"]


def test_pods_that_do_not_call_kubernetes_get_no_api_token(objects):
    for name, pod in _pod_specs(objects):
        if name.startswith("llm-engine-image-cache") or name.startswith("llm-engine-migrations"):
            assert pod["automountServiceAccountToken"] is False, name


def test_django_secret_key_is_generated_and_not_a_constant():
    first = find(render(), "Secret", "llm-engine-django")["data"]["secret_key"]
    second = find(render(), "Secret", "llm-engine-django")["data"]["secret_key"]
    assert first != second and len(first) > 40
