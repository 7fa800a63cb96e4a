"""Batch completions end to end: the official client creates the job, the Job manifest (the
stock vLLM server as a native sidecar, our runner as the main container) goes to the fake
Kubernetes API, the test plays the kubelet by running the main container's argv natively with
the env and mounted config the pod would get (a fake vLLM standing in for the sidecar, moto's S3
for storage), the reconciler copies the runner's progress onto the job, and the job ends
COMPLETED with its outputs in storage, including when the runner is killed half-way."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from llmengine import Completion, CreateBatchCompletionsModelConfig, CreateBatchCompletionsRequestContent

from jobs import manifests
from jobs.batch_runner import checkpoint, locations
from jobs.converge import job_sync
from jobs.models import BatchJob
from jobs.reconciler import reconcile_jobs
from llmengine_site import names
from llmengine_site.infra.kube import get_kube
from tests.fakes.model_servers import ModelServer
from tests.jobs.conftest import BUCKET, NS, assert_no_control_plane_secret, assert_valid, k8s_jobs

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

REPO = Path(__file__).resolve().parents[2]
OUT = "llm-engine/teams/test-user-id/out"  # the caller's own prefix (storage scoping)
PROMPTS = [" ".join(["word"] * (index + 1)) for index in range(200)]  # prompt i has i + 1 tokens


@pytest.fixture
def storage(bucket, settings):
    settings.LLME_S3_BUCKET = BUCKET
    locations._s3 = None  # the runner's client (also used by the reconciler) must see moto
    yield boto3.client("s3", region_name="us-west-2")
    locations._s3 = None


def _create(version: int) -> str:
    content = CreateBatchCompletionsRequestContent(prompts=PROMPTS, max_new_tokens=4, temperature=0.0)
    created = Completion.batch_create(
        output_data_path=f"s3://{BUCKET}/{OUT}/v{version}.json", content=content, use_v2=version == 2,
        model_config=CreateBatchCompletionsModelConfig(model="llama-2-7b"))
    return created.job_id


def _pod(k8s_api, job_id: str) -> tuple[dict, dict]:
    """(pod spec, mounted config) of the job as applied to the cluster."""
    job = k8s_jobs(k8s_api)[names.job_name(job_id)]
    secrets = {o["metadata"]["name"]: o for o in k8s_api.objects("Secret", NS)}
    config = json.loads(secrets[names.job_config_name(job_id)]["stringData"][manifests.CONFIG_KEY])
    return job, config


class Kubelet:
    """Runs the pod's main container natively, as the kubelet would: its argv, its env, its
    config file mounted where the manifest says; the sidecar's port is the fake vLLM's."""

    def __init__(self, pod: dict, config: dict, tmp_path: Path, server: ModelServer):
        self.main = pod["containers"][0]
        mount = next(m for m in self.main["volumeMounts"] if m["name"] == manifests.CONFIG_VOLUME)
        self.config_path = tmp_path / "mounted" / mount["mountPath"].lstrip("/")
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config))
        self.mount_path = mount["mountPath"]
        self.server = server

    def env(self) -> dict:
        env = {item["name"]: item["value"] for item in self.main["env"] if "value" in item}
        env["POD_NAME"], env["POD_NAMESPACE"], env["JOB_COMPLETION_INDEX"] = "pod-0", NS, "0"
        # The pod's filesystem and network, as seen from this machine.
        assert env["LLME_JOB_CONFIG_PATH"] == self.mount_path
        env["LLME_JOB_CONFIG_PATH"] = str(self.config_path)
        assert env["LLME_BATCH_SERVER_URL"] == "http://127.0.0.1:5005"  # the sidecar's port
        env["LLME_BATCH_SERVER_URL"] = self.server.url
        # The pod's own storage identity (IRSA in a cluster): moto's test credentials.
        for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PATH"):
            env[name] = os.environ[name]
        return env

    def start(self) -> subprocess.Popen:
        argv = list(self.main["command"])
        assert argv == ["python", "-m", "jobs.batch_runner"]
        argv[0] = sys.executable
        return subprocess.Popen(argv, cwd=REPO, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)


def _running(k8s_api, job_id: str) -> None:
    k8s_api.set_status("batch/v1", "Job", NS, names.job_name(job_id), {"active": 1, "ready": 1})


def _succeeded(k8s_api, job_id: str) -> None:
    k8s_api.set_status("batch/v1", "Job", NS, names.job_name(job_id),
                       {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})


def _progress_after_reconcile(job_id: str) -> dict | None:
    reconcile_jobs(get_kube())
    return Completion.get_batch_completion(job_id)["job"]["progress"]


def _wait_for_progress(job_id: str, at_least: int, process: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        progress = _progress_after_reconcile(job_id)
        if progress and progress["num_completed"] >= at_least:
            return progress
        time.sleep(0.1)
    raise AssertionError(f"the runner did not report {at_least} items in {timeout} s")


def _outputs(storage, version: int) -> list:
    return json.loads(storage.get_object(Bucket=BUCKET, Key=f"{OUT}/v{version}.json")["Body"].read())


@pytest.mark.parametrize("version", [1, 2])
def test_200_prompts_run_to_completed_with_outputs_in_storage_and_a_runner_killed_half_way(
        version, llmengine_client, k8s_api, storage, tmp_path, settings):
    job_id = _create(version)
    job_sync(job_id)  # what the jobs actor does after commit
    kube_job, config = _pod(k8s_api, job_id)
    assert_valid(kube_job)
    assert_no_control_plane_secret(kube_job, settings)
    pod = kube_job["spec"]["template"]["spec"]
    sidecar = pod["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always" and sidecar["startupProbe"]["httpGet"]["port"] == 5005
    assert "vllm.entrypoints.openai.api_server" in sidecar["command"][-1]
    assert kube_job["spec"]["backoffLimit"] > 0  # a restarted runner resumes
    assert Completion.get_batch_completion(job_id)["job"]["progress"] is None

    _running(k8s_api, job_id)
    with ModelServer("vllm") as server:
        server.state.hold_after(110)  # the server answers 110 prompts, then the pod dies
        kubelet = Kubelet(pod, config, tmp_path, server)
        first = kubelet.start()
        half = _wait_for_progress(job_id, 100, first)
        first.send_signal(signal.SIGKILL)  # the pod dies half-way
        first.wait(timeout=30)
        server.state.release()
        assert BatchJob.objects.get(pk=job_id).status == "RUNNING"
        assert 100 <= half["num_completed"] < 200 and half["total"] == 200
        saved = len(checkpoint.Checkpoint(config["state_location"], 0).load())
        assert 100 <= saved < 200
        sent_before = len(server.state.requests)
        assert sent_before < 200

        second = kubelet.start()  # the Job controller's next pod
        assert second.wait(timeout=120) == 0, second.stdout.read()
        assert len(server.state.requests) - sent_before == 200 - saved  # nothing checkpointed is sent again

    _succeeded(k8s_api, job_id)
    reconcile_jobs(get_kube())
    job = Completion.get_batch_completion(job_id)["job"]
    assert job["status"] == "completed"
    assert job["progress"] == {"num_completed": 200, "total": 200, "num_failed": 0}
    outputs = _outputs(storage, version)
    assert [output["num_prompt_tokens"] for output in outputs] == list(range(1, 201))
    assert all(output["text"] for output in outputs)


def test_a_batch_job_that_cannot_be_created_ends_failed_with_a_reason(llmengine_client, monkeypatch, tmp_path,
                                                                      settings):
    from llmengine_site.infra.kube import reset_kube_client

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    settings.LLME_S3_BUCKET = BUCKET
    reset_kube_client()
    try:
        job_id = _create(2)
        assert job_sync(job_id) == "failed"  # no traceback, no retry: a reason on the job
    finally:
        reset_kube_client()
    job = BatchJob.objects.get(pk=job_id)
    assert job.status == "FAILURE"
    assert "cannot create the Kubernetes Job" in job.status_reason
    assert "No Kubernetes cluster is configured" in job.status_reason
    assert Completion.get_batch_completion(job_id)["job"]["status"] == "failed"
