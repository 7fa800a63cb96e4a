"""Schema checks for generated objects: Kubernetes 1.29 strict schemas, KEDA's CRD schema, and
key-field assertions for the LeaderWorkerSet and VPA (whose CRD schemas we do not keep)."""
import copy

import kubernetes_validate

from tests.schemas import is_keda, validate_keda

KUBERNETES_VERSION = "1.29.0"
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
VPA_API_VERSION = "autoscaling.k8s.io/v1"


def assert_valid(obj: dict) -> None:
    """Fails on any schema error; a kind without a schema (SchemaNotFoundError) fails too."""
    if is_keda(obj):
        validate_keda(obj)
    elif obj["apiVersion"] == LWS_API_VERSION and obj["kind"] == "LeaderWorkerSet":
        assert_valid_leader_worker_set(obj)
    elif obj["apiVersion"] == VPA_API_VERSION and obj["kind"] == "VerticalPodAutoscaler":
        assert_valid_vertical_pod_autoscaler(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def assert_valid_vertical_pod_autoscaler(obj: dict) -> None:
    spec = obj["spec"]
    assert set(spec) <= {"targetRef", "updatePolicy", "resourcePolicy", "recommenders"}
    assert set(spec["targetRef"]) == {"apiVersion", "kind", "name"}
    assert spec["updatePolicy"]["updateMode"] in ("Off", "Initial", "Recreate", "Auto")
    for policy in spec["resourcePolicy"]["containerPolicies"]:
        assert set(policy) <= {"containerName", "mode", "minAllowed", "maxAllowed", "controlledResources",
                               "controlledValues"}
        assert policy.get("mode", "Auto") in ("Auto", "Off")
        for bound in ("minAllowed", "maxAllowed"):
            assert all(isinstance(value, str) for value in policy.get(bound, {}).values())


def assert_valid_leader_worker_set(obj: dict) -> None:
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    assert obj["metadata"]["name"] and obj["metadata"]["namespace"]
    spec = obj["spec"]
    assert isinstance(spec["replicas"], int) and spec["replicas"] >= 0
    assert spec["startupPolicy"] in ("LeaderCreated", "LeaderReady")
    template = spec["leaderWorkerTemplate"]
    assert set(template) == {"size", "restartPolicy", "leaderTemplate", "workerTemplate"}
    assert isinstance(template["size"], int) and template["size"] >= 2
    assert template["restartPolicy"] in ("RecreateGroupOnPodRestart", "None")
    # The pod templates are core PodTemplateSpecs: validate them strictly inside a Deployment.
    for key in ("leaderTemplate", "workerTemplate"):
        pod_template = copy.deepcopy(template[key])
        kubernetes_validate.validate(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": obj["metadata"]["name"]},
                "spec": {"selector": {"matchLabels": pod_template["metadata"]["labels"]}, "template": pod_template},
            },
            KUBERNETES_VERSION,
            strict=True,
        )
