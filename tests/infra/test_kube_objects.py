"""Realistic endpoint objects through the adapter, and the fake's cluster behaviour that the
builder and the reconciler rely on (rollout status, pod states, logs, cascading deletes)."""
import pytest
from kubernetes import client as k8s_client

from llmengine_site.infra.kube import RESTARTED_AT_ANNOTATION, get_kube

NAMESPACE = "llm-engine"
GROUP = "llm-engine-endpoint-id-end-abc123"
LABELS = {"app.kubernetes.io/managed-by": "llm-engine", "llm-engine.io/endpoint-id": "end_abc123"}


def deployment(replicas: int = 1, image: str = "repo/vllm:0.6.3") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": GROUP, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": GROUP}},
            "template": {
                "metadata": {"labels": {**LABELS, "app": GROUP}},
                "spec": {
                    "containers": [
                        {"name": "main", "image": image, "ports": [{"containerPort": 5005}]},
                        {"name": "http-forwarder", "image": "llm-engine:latest"},
                    ]
                },
            },
        },
    }


def service() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": GROUP, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {"type": "ClusterIP", "selector": {"app": GROUP},
                 "ports": [{"port": 80, "targetPort": 5000, "name": "http"}]},
    }


def scaled_object() -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": GROUP, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "scaleTargetRef": {"name": GROUP},
            "minReplicaCount": 0,
            "maxReplicaCount": 2,
            "triggers": [{"type": "metrics-api", "metadata": {"targetValue": "1",
                                                              "url": "http://gateway/metrics",
                                                              "valueLocation": "value"}}],
        },
    }


def test_endpoint_objects_apply_and_list_by_endpoint_label(k8s_api):
    kube = get_kube()
    for obj in (deployment(), service(), scaled_object()):
        kube.apply(obj)

    selector = {"llm-engine.io/endpoint-id": "end_abc123"}
    assert [d["metadata"]["name"] for d in kube.list("apps/v1", "Deployment", NAMESPACE, selector)] == [GROUP]
    assert kube.get("v1", "Service", GROUP, NAMESPACE)["spec"]["ports"][0]["targetPort"] == 5000
    assert kube.get("keda.sh/v1alpha1", "ScaledObject", GROUP, NAMESPACE)["spec"]["maxReplicaCount"] == 2


def test_spec_change_bumps_generation_and_reapply_does_not(k8s_api):
    kube = get_kube()
    created = kube.apply(deployment())
    same = kube.apply(deployment())
    changed = kube.apply(deployment(image="repo/vllm:0.9"))

    assert created["metadata"]["generation"] == same["metadata"]["generation"] == 1
    assert changed["metadata"]["generation"] == 2


def test_apply_keeps_the_status_the_cluster_reported(k8s_api):
    kube = get_kube()
    kube.apply(deployment(replicas=2))
    k8s_api.mark_deployment_available(NAMESPACE, GROUP)

    reapplied = kube.apply(deployment(replicas=2))

    assert reapplied["status"]["availableReplicas"] == 2
    assert reapplied["status"]["observedGeneration"] == reapplied["metadata"]["generation"]
    assert {"type": "Available", "status": "True"}.items() <= reapplied["status"]["conditions"][0].items()


def test_pods_in_failing_states_carry_the_kubelet_reasons(k8s_api):
    kube = get_kube()
    kube.apply(deployment(image="repo/vllm:missing"))
    k8s_api.add_pod_for_deployment(NAMESPACE, GROUP, waiting_reason="ImagePullBackOff")
    k8s_api.add_pod_for_deployment(NAMESPACE, GROUP, scheduled=False)

    pods = kube.list("v1", "Pod", NAMESPACE, {"app": GROUP})

    waiting = pods_by_state(pods)
    assert waiting["ImagePullBackOff"] == 'Back-off pulling image "repo/vllm:missing"'
    assert waiting["Unschedulable"] == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    reasons = {event["reason"] for event in kube.list("v1", "Event", NAMESPACE)}
    assert reasons == {"Failed", "FailedScheduling"}
    unschedulable = [pod for pod in pods if "containerStatuses" not in pod["status"]][0]
    events = kube.list("v1", "Event", NAMESPACE, field_selector=f"involvedObject.name={unschedulable['metadata']['name']}")
    assert [event["reason"] for event in events] == ["FailedScheduling"]


def pods_by_state(pods: list[dict]) -> dict[str, str]:
    """reason -> message of every waiting container and unschedulable pod."""
    found = {}
    for pod in pods:
        for status in pod["status"].get("containerStatuses", []):
            waiting = status["state"].get("waiting") or {}
            if waiting.get("reason") not in (None, "ContainerCreating"):
                found[waiting["reason"]] = waiting["message"]
        for condition in pod["status"]["conditions"]:
            if condition["type"] == "PodScheduled" and condition["status"] == "False":
                found[condition["reason"]] = condition["message"]
    return found


def test_read_pod_log_returns_the_tail(k8s_api):
    kube = get_kube()
    kube.apply(deployment())
    pod = k8s_api.add_pod_for_deployment(NAMESPACE, GROUP, phase="Running",
                                         waiting_reason="CrashLoopBackOff",
                                         log="loading weights\nCUDA out of memory\n")

    log = kube.read_pod_log(pod["metadata"]["name"], NAMESPACE, container="main", tail_lines=1)

    assert log == "CUDA out of memory\n"


def test_read_pod_log_of_missing_pod_or_unstarted_container_is_none(k8s_api):
    kube = get_kube()
    kube.apply(deployment())
    pod = k8s_api.add_pod_for_deployment(NAMESPACE, GROUP, waiting_reason="ErrImagePull")

    assert kube.read_pod_log("gone", NAMESPACE, container="main") is None
    assert kube.read_pod_log(pod["metadata"]["name"], NAMESPACE, container="main") is None


def test_restart_deployment_stamps_the_pod_template(k8s_api):
    kube = get_kube()
    kube.apply(deployment())

    kube.restart_deployment(GROUP, NAMESPACE)

    stored = k8s_api.get_object("Deployment", NAMESPACE, GROUP)
    assert RESTARTED_AT_ANNOTATION in stored["spec"]["template"]["metadata"]["annotations"]
    assert stored["metadata"]["generation"] == 2


def test_deleting_a_deployment_deletes_its_pods(k8s_api):
    kube = get_kube()
    kube.apply(deployment())
    k8s_api.add_pod_for_deployment(NAMESPACE, GROUP, phase="Running")

    assert kube.delete("apps/v1", "Deployment", GROUP, NAMESPACE) is True
    assert k8s_api.objects(kind="Pod") == []


def test_cluster_scoped_kinds_ignore_the_namespace(k8s_api):
    kube = get_kube()
    kube.apply({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "llm-engine-default-priority"}, "value": 1})

    assert kube.get("scheduling.k8s.io/v1", "PriorityClass", "llm-engine-default-priority")["value"] == 1


def test_typed_client_replace_with_stale_resource_version_conflicts(k8s_api):
    """The classic typed client works against the fake too (discovery, PUT, 409)."""
    get_kube().apply({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "c", "namespace": NAMESPACE}, "data": {"a": "1"}})
    core = k8s_client.CoreV1Api(get_kube().api_client)
    stale = core.read_namespaced_config_map("c", NAMESPACE)
    core.patch_namespaced_config_map("c", NAMESPACE, {"data": {"a": "2"}})
    stale.data = {"a": "3"}

    with pytest.raises(k8s_client.ApiException) as raised:
        core.replace_namespaced_config_map("c", NAMESPACE, stale)

    assert raised.value.status == 409
