"""Fixtures of the jobs tests: files in a temporary directory, fine-tuned weights in moto's S3,
the fake Kubernetes API, and helpers that play the Kubernetes Job controller."""
import boto3
import kubernetes_validate
import pytest

from llmengine_site import names
from tests.credentials import assert_no_control_plane_secret  # noqa: F401  (one check for every workload)

NS = "llm-engine"
BUCKET = "llme-test-weights"


@pytest.fixture(autouse=True)
def jobs_settings(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "files")}}}
    settings.LLME_FINE_TUNE_REPOSITORY = f"s3://{BUCKET}/fine-tuned"
    settings.LLME_DOCKER_REPO_PREFIX = "registry.example.com/llm-engine"
    settings.LLME_REGISTRY_CHECK = False
    return settings


@pytest.fixture
def bucket(aws):
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return BUCKET


def k8s_jobs(k8s_api) -> dict:
    return {o["metadata"]["name"]: o for o in k8s_api.objects("Job", NS)}


def assert_valid(obj: dict) -> None:
    """Strict schema check against Kubernetes 1.29 (testing.md); unknown kinds are failures."""
    kubernetes_validate.validate(obj, "1.29.0", strict=True)


def finish_job(k8s_api, job_id: str, *, succeeded: bool = True, reason: str | None = None) -> None:
    """Play the Job controller: mark the job's Kubernetes Job finished."""
    if succeeded:
        status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    else:
        status = {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": reason or "BackoffLimitExceeded",
                                               "message": "Job has reached the specified backoff limit"}]}
    k8s_api.set_status("batch/v1", "Job", NS, names.job_name(job_id), status)


def add_job_pod(k8s_api, job_id: str, log: str, phase: str = "Running") -> str:
    """A running pod of the job (what the Job controller would create), with a log."""
    from llmengine_site.infra.kube import get_kube

    name = names.job_name(job_id) + "-0-abcde"
    get_kube().apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"job-name": names.job_name(job_id)}},
        "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": phase},
    })
    k8s_api.set_pod_log(NS, name, log)
    return name
