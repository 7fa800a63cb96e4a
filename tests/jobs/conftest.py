"""Fixtures of the jobs tests: files in a temporary directory, fine-tuned weights in moto's S3,
the fake Kubernetes API, and helpers that play the Kubernetes Job controller."""
import boto3
import kubernetes_validate
import pytest

from llmengine_site import names

NS = "llm-engine"
BUCKET = "llme-test-weights"
CONTROL_PLANE_SECRETS = ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")


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


def assert_no_control_plane_secret(job: dict, django_settings) -> None:
    pod = job["spec"]["template"]["spec"] if job["kind"] == "Job" else job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    secret_values = {str(django_settings.DATABASES["default"].get("PASSWORD") or "x-none"), django_settings.SECRET_KEY,
                     django_settings.REDIS_URL or "x-none"}
    for container in pod["containers"] + pod.get("initContainers", []):
        for variable in container.get("env", []):
            assert variable["name"] not in CONTROL_PLANE_SECRETS, variable
            assert not any(secret and secret in str(variable.get("value", "")) for secret in secret_values), variable
            assert "postgres://" not in str(variable.get("value", ""))
        assert not container.get("envFrom"), "no bulk environment may be copied into user jobs"


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
