"""The chart installs on a cluster prepared as docs/self-hosting.md says: `helm lint --strict`
passes on values.yaml alone, the control plane fits the documented node groups, KEDA is optional,
and the docs cover building the image, the first operator and a Pending hook Job."""
import pytest

from tests.chart.helm import CHART, ROOT, SAMPLE_VALUES, helm, render, template_result

DOC = (ROOT / "docs" / "self-hosting.md").read_text()

# The node groups docs/self-hosting.md asks for (section 1): GPU groups labelled and tainted,
# plus a plain CPU group.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
NODE_GROUPS = {
    "cpu": {"labels": {}, "taints": []},
    "gpu-a10": {
        "labels": {"node-lifecycle": "normal", "k8s.amazonaws.com/accelerator": "nvidia-tesla-a10"},
        "taints": [GPU_TAINT],
    },
}
CONTROL_PLANE = [("Deployment", "llm-engine"), ("Deployment", "llm-engine-endpoint-builder"),
                 ("Deployment", "llm-engine-cacher"), ("Job", "llm-engine-migrations-1")]


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint["effect"]):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value") == taint["value"]:
            return True
    return False


def _expression_holds(expression: dict, labels: dict) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
    return {
        "In": lambda: labels.get(key) in values,
        "NotIn": lambda: labels.get(key) not in values,
        "Exists": lambda: key in labels,
        "DoesNotExist": lambda: key not in labels,
    }[operator]()


def _fits(pod: dict, node: dict) -> bool:
    """kube-scheduler's filters that values can influence: nodeSelector, required node affinity,
    NoSchedule taints."""
    labels = node["labels"]
    if any(labels.get(key) != value for key, value in (pod.get("nodeSelector") or {}).items()):
        return False
    required = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(all(_expression_holds(e, labels) for e in term.get("matchExpressions", []))
                         for term in terms):
        return False
    return all(_tolerates(pod.get("tolerations") or [], taint) for taint in node["taints"])


def _preferred_score(pod: dict, node: dict) -> int:
    preferred = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    return sum(term["weight"] for term in preferred
               if all(_expression_holds(e, node["labels"]) for e in term["preference"].get("matchExpressions", [])))


def _pod_spec(objects: list[dict], kind: str, name: str) -> dict:
    (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj["spec"]["template"]["spec"]


def test_lint_strict_passes_with_values_yaml_alone():
    result = helm("lint", str(CHART), "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    assert "unable to parse YAML" not in result.stdout + result.stderr


def test_values_yaml_alone_still_fails_install_with_the_required_message():
    result = template_result(values=None)
    assert result.returncode != 0
    assert "set `" in result.stderr
    assert "unable to parse YAML" not in result.stderr


def test_docs_describe_the_node_groups_the_scheduling_test_uses():
    assert "taint `nvidia.com/gpu=true:NoSchedule`" in DOC
    assert "label `node-lifecycle: normal`" in DOC
    assert "**CPU node group**" in DOC


@pytest.mark.parametrize("kind,name", CONTROL_PLANE)
def test_sample_control_plane_schedules_on_the_cpu_nodes_the_docs_ask_for(kind, name):
    pod = _pod_spec(render(), kind, name)
    fitting = [group for group, node in NODE_GROUPS.items() if _fits(pod, node)]
    assert fitting == ["cpu"], f"{kind}/{name} fits {fitting}; nodeSelector={pod.get('nodeSelector')}"
    assert _preferred_score(pod, NODE_GROUPS["cpu"]) > _preferred_score(pod, NODE_GROUPS["gpu-a10"])


def test_a_node_selector_on_labels_only_gpu_nodes_carry_would_leave_the_hook_job_pending():
    # What the sample did before: the scheduling check above must catch it.
    pod = _pod_spec(render("--set", "nodeSelector.node-lifecycle=normal"), "Job", "llm-engine-migrations-1")
    assert [group for group, node in NODE_GROUPS.items() if _fits(pod, node)] == []


def test_sample_installs_without_keda():
    objects = render()  # no keda.sh API in the capabilities: a cluster without KEDA
    assert [o["kind"] for o in objects if o["apiVersion"].startswith("keda.sh/")] == []


def test_keda_enabled_without_its_crds_fails_with_a_clear_message():
    result = template_result("--set", "keda.triggerAuthentication.enabled=true")
    assert result.returncode != 0
    assert "keda.triggerAuthentication.enabled is true but the cluster has no KEDA CRDs" in result.stderr
    assert "install KEDA first" in result.stderr


def test_keda_enabled_with_its_crds_renders_the_trigger_authentication():
    objects = render("--set", "keda.triggerAuthentication.enabled=true", "--api-versions", "keda.sh/v1alpha1")
    assert [o["kind"] for o in objects if o["apiVersion"] == "keda.sh/v1alpha1"] == ["TriggerAuthentication"]


def test_sample_lints_strict():
    result = helm("lint", str(CHART), "--strict", "-f", str(SAMPLE_VALUES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_troubleshooting_covers_a_pending_hook_job():
    troubleshooting = DOC.split("## 7. Troubleshooting", 1)[1]
    section = troubleshooting.split("the migration Job's pod is `Pending`", 1)[1].split("\n\n**", 1)[0]
    assert "kubectl describe pod" in section
    assert "untolerated taint {nvidia.com/gpu: true}" in section
    assert "nodeSelector" in section


def test_docs_build_and_push_the_image_with_the_chart_tag():
    assert "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin $REGISTRY" in DOC
    assert "docker push $REGISTRY/llm-engine:$TAG" in DOC
    assert "the tag you push must be exactly the\nchart value `tag`" in DOC


def test_docs_create_the_first_operator_and_reach_the_console():
    assert "kubectl exec -it -n llm-engine deploy/llm-engine -- python manage.py createsuperuser" in DOC
    assert "kubectl port-forward -n llm-engine deploy/llm-engine 5000:5000" in DOC
    assert "http://localhost:5000/admin/" in DOC
