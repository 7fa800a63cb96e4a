"""Runs the real helm binary on the chart (installed at .tools/helm by scripts/install_helm.sh).

A missing binary is an error, never a skip: a chart that was not checked must not look green.
"""
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".tools" / "helm"
CHART = ROOT / "chart"
SAMPLE_VALUES = CHART / "values_sample.yaml"
KUBE_VERSION = "1.29.0"
RELEASE = "llm-engine"
NAMESPACE = "llm-engine"

# What `values.yaml` alone leaves unset and a real install must provide.
REQUIRED_SETS = [
    "tag=1.0.0",
    "image.gatewayRepository=000000000000.dkr.ecr.us-west-2.amazonaws.com/llm-engine",
    "secrets.kubernetesDatabaseSecretName=llm-engine-database-credentials",
    r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::000000000000:role/llm-engine",
    "config.values.infra.redis_host=redis.example.com",
]


def helm(*args: str) -> subprocess.CompletedProcess:
    if not HELM.is_file():
        raise AssertionError(f"helm is missing at {HELM}: run `make helm` (scripts/install_helm.sh)")
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def template_result(*extra: str, values: Path | None = SAMPLE_VALUES) -> subprocess.CompletedProcess:
    args = ["template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["-f", str(values)]
    return helm(*args, *extra)


def render(*extra: str, values: Path | None = SAMPLE_VALUES) -> list[dict]:
    """Rendered objects (hooks included); fails the test with helm's message on error."""
    result = template_result(*extra, values=values)
    assert result.returncode == 0, result.stderr
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def sets(*assignments: str) -> list[str]:
    return [arg for assignment in assignments for arg in ("--set", assignment)]


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]
