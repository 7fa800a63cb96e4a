"""values.schema.json declares every key of values.yaml and values_sample.yaml, and both files
pass it (helm applies it on every install, upgrade and template)."""
import json

import jsonschema
import pytest
import yaml

from tests.chart.helm import CHART, SAMPLE_VALUES

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# Free-form Kubernetes fields and maps whose keys are data, not settings.
OPEN_PATHS = {"resources", "nodeSelector", "tolerations", "affinity", "podSecurityContext", "containerSecurityContext",
              "serviceAccount.annotations", "service.annotations", "gpuNodeLabels", "frameworkRepositories",
              "frameworkLatestTags", "serviceTemplate.serviceAccountAnnotations", "imageCache.resources",
              "serviceTemplate.securityContext"}


def _undeclared(values, schema, path=""):
    if path in OPEN_PATHS or not isinstance(values, dict):
        return []
    declared = schema.get("properties", {})
    if not declared:
        for option in schema.get("anyOf", []):
            if option.get("type") == "object":
                return _undeclared(values, option, path)
    missing = []
    for key, value in values.items():
        child = f"{path}.{key}" if path else key
        if key not in declared:
            missing.append(child)
        else:
            missing += _undeclared(value, declared[key], child)
    return missing


@pytest.mark.parametrize("values_file", [CHART / "values.yaml", SAMPLE_VALUES], ids=lambda path: path.name)
def test_every_key_is_declared_in_the_schema(values_file):
    values = yaml.safe_load(values_file.read_text())
    assert _undeclared(values, SCHEMA) == []
    jsonschema.Draft7Validator(SCHEMA).validate(values)


def test_top_level_and_nested_objects_reject_unknown_keys():
    assert SCHEMA["additionalProperties"] is False
    for key in ("image", "secrets", "service", "autoscaling", "aws", "config", "keda", "imageCache"):
        assert SCHEMA["properties"][key]["additionalProperties"] is False, key
    infra = SCHEMA["properties"]["config"]["properties"]["values"]["properties"]["infra"]
    assert set(infra["properties"]) == {"k8s_cluster_name", "dns_host_domain", "default_region", "ml_account_id",
                                        "docker_repo_prefix", "redis_host", "s3_bucket"}
