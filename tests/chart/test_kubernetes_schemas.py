"""Every rendered object passes Kubernetes 1.29's schema in strict mode (unknown fields are
errors); KEDA objects pass KEDA's CRD schema. An unknown kind is a failure, not a warning."""
import kubernetes_validate
import pytest

from tests.chart.helm import KUBE_VERSION, REQUIRED_SETS, render, sets
from tests.schemas import is_keda, validate_keda

KEDA_API = ["--api-versions", "keda.sh/v1alpha1"]


def _validate_all(objects: list[dict]) -> list[str]:
    failures = []
    for obj in objects:
        label = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            if is_keda(obj):
                validate_keda(obj)
            else:
                kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{label}: no schema for {obj.get('apiVersion')} in Kubernetes {KUBE_VERSION}")
        except Exception as exc:  # ValidationError of either validator
            failures.append(f"{label}: {exc}")
    return failures


def test_sample_values_render_only_valid_objects():
    objects = render(*KEDA_API)
    assert len(objects) > 15
    assert _validate_all(objects) == []


def test_sample_values_with_keda_enabled_render_a_trigger_authentication_that_passes_keda_schema():
    objects = render(*KEDA_API, "--set", "keda.triggerAuthentication.enabled=true")
    keda_objects = [obj for obj in objects if is_keda(obj)]
    assert [obj["kind"] for obj in keda_objects] == ["TriggerAuthentication"]
    spec = keda_objects[0]["spec"]
    assert spec["podIdentity"] == {"provider": "aws", "roleArn": "arn:aws:iam::000000000000:role/llm-engine"}


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="values.yaml defaults"),
        pytest.param(["--set", "autoscaling.horizontal.enabled=false", "--set", "replicaCount=3"], id="no hpa"),
        pytest.param(["--set", "aws.configMap.name=aws-config", "--set", "aws.configMap.create=true",
                      "--set", "aws.profileName=ml-worker"], id="aws config map"),
        pytest.param(["--set", "imageCache.enabled=false", "--set", "priorityClass.create=false"], id="minimal"),
    ],
)
def test_values_yaml_variants_render_only_valid_objects(extra):
    objects = render(*sets(*REQUIRED_SETS), *extra, *KEDA_API, values=None)
    assert _validate_all(objects) == []


def test_keda_schema_rejects_an_unknown_field():
    bad = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x", "namespace": "llm-engine"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "metrics-api", "metadata": {}}],
                 "minReplicas": 0},
    }
    with pytest.raises(Exception, match="minReplicas"):
        validate_keda(bad)
