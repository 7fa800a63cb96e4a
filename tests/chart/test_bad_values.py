"""Bad values fail `helm template` with a message that names the key to fix."""
import pytest

from tests.chart.helm import REQUIRED_SETS, sets, template_result


@pytest.mark.parametrize(
    "assignment, key",
    [
        (["--set", "replicaCount=abc"], "replicaCount"),
        (["--set-string", "service.port=80"], "service.port"),
        (["--set", "service.port=70000"], "service.port"),
        (["--set", "service.type=Ingress"], "service.type"),
        (["--set", "autoscaling.horizontal.enabled=yes-please"], "autoscaling.horizontal.enabled"),
        (["--set", "config.values.datadog_trace_enabled=maybe"], "config.values.datadog_trace_enabled"),
        (["--set", "auth.mode=none"], "auth.mode"),
        (["--set", "image.pullPolicy=Sometimes"], "image.pullPolicy"),
        (["--set", "config.values.llm_engine.endpoint_namespace=Not_A_Namespace"],
         "config.values.llm_engine.endpoint_namespace"),
        (["--set", "tolerations=none"], "tolerations"),
    ],
)
def test_wrong_type_fails_naming_the_key(assignment, key):
    result = template_result(*assignment)
    assert result.returncode != 0
    assert f"- {key}:" in result.stderr, result.stderr


def test_unknown_top_level_key_fails():
    result = template_result("--set", "replicas=3")
    assert result.returncode != 0
    assert "Additional property replicas is not allowed" in result.stderr


def test_misspelt_nested_key_fails():
    result = template_result("--set", "config.values.infra.s3_buckets=x")
    assert result.returncode != 0
    assert "s3_buckets" in result.stderr


@pytest.mark.parametrize(
    "missing, message",
    [
        ("tag=1.0.0", "set `tag`"),
        ("image.gatewayRepository=000000000000.dkr.ecr.us-west-2.amazonaws.com/llm-engine", "set `image.gatewayRepository`"),
        ("secrets.kubernetesDatabaseSecretName=llm-engine-database-credentials",
         "set `secrets.kubernetesDatabaseSecretName`"),
        (r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::000000000000:role/llm-engine",
         'set `serviceAccount.annotations."eks.amazonaws.com/role-arn"`'),
        ("config.values.infra.redis_host=redis.example.com", "set `config.values.llm_engine.cache_redis_url`"),
    ],
)
def test_missing_required_value_fails_saying_what_to_set(missing, message):
    result = template_result(*sets(*[item for item in REQUIRED_SETS if item != missing]), values=None)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_values_yaml_alone_fails_asking_for_the_tag_or_another_required_value():
    result = template_result(values=None)
    assert result.returncode != 0
    assert "set `" in result.stderr


def test_empty_tag_in_sample_fails_saying_to_set_tag():
    result = template_result("--set", "tag=")
    assert result.returncode != 0
    assert "set `tag`" in result.stderr
