"""No workload gets a control-plane credential (docs/security.md#what-isolates-teams): every
endpoint type (LLM endpoints of each framework, generic sync/streaming/async) on both queue
backends, the fine-tune Job, batch completion Jobs (v1, v2), the docker-image batch Job, the
trigger CronJob, and the chart's objects in the endpoint namespace. The control plane's
credentials are set to distinctive values first, so a leak cannot hide behind a common string."""
import dataclasses
import json

import pytest

from endpoints import redis_acl, report_tokens
from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.manifests import BundleSpec, bundle_spec_from, render_endpoint
from llmengine_site import names
from jobs.converge import job_sync, trigger_sync
from jobs.models import BatchJob, Trigger
from tests.chart.helm import render as render_chart, sets
from tests.credentials import (
    assert_no_control_plane_secret,
    assert_objects_hold_no_control_plane_secret,
    control_plane_secrets,
)
from tests.manifests.factories import async_spec, guide_llama_7b_spec

REDIS_PASSWORD = "cp-redis-password-7f3a9c"
REDIS_HOST = "redis.control-plane.internal"
CONTROL_PLANE_REDIS_URL = f"redis://:{REDIS_PASSWORD}@{REDIS_HOST}:6379/0"
SECRET_KEY = "cp-secret-key-0b9e1d55aa"
AWS_KEY_ID = "AKIACONTROLPLANE7F3A"
AWS_SECRET = "cp-aws-secret-access-key-51c2"
NS = "llm-engine"
BUCKET = "llme-credential-test"

FRAMEWORKS = {
    "vllm": {},
    "sglang": {},
    "text_generation_inference": {},
    "lightllm": {},
    "tensorrt_llm": {"checkpoint_path": "s3://weights/llama-trt"},
}


@pytest.fixture
def control_plane(settings, monkeypatch):
    settings.REDIS_URL = CONTROL_PLANE_REDIS_URL
    settings.SECRET_KEY = SECRET_KEY
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    secrets = control_plane_secrets(settings)
    assert {"REDIS_URL", "Redis password", "SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(secrets)
    return settings


def _llm_spec(framework: str, endpoint_type: str, **extra):
    bundle = llm_bundle(LLMServingInput(
        model_name="llama-2-7b", framework=framework, image_tag="1.0", num_shards=1, quantize=None,
        checkpoint_path=extra.get("checkpoint_path"), hf_repo="meta-llama/Llama-2-7b-hf",
        chat_template_override=None, framework_args={}))
    if endpoint_type == "async":
        return async_spec(bundle=bundle_spec_from(bundle, endpoint_type), gpus=1)
    return guide_llama_7b_spec(bundle=bundle_spec_from(bundle, endpoint_type), endpoint_type=endpoint_type,
                               gpus=1)


GENERIC = BundleSpec(image="registry.example.com/team/echo:1", command=("python", "-m", "echo"),
                     streaming_predict_route="/stream")


def _every_endpoint_spec(backend: str):
    specs = []
    for framework, extra in FRAMEWORKS.items():
        for endpoint_type in ("streaming", "async"):
            specs.append((f"{framework}/{endpoint_type}", _llm_spec(framework, endpoint_type, **extra)))
    for endpoint_type in ("sync", "streaming"):
        specs.append((f"generic/{endpoint_type}", guide_llama_7b_spec(bundle=GENERIC, endpoint_type=endpoint_type,
                                                                       gpus=0, gpu_type=None)))
    specs.append(("generic/async", async_spec(bundle=GENERIC, gpus=0, gpu_type=None)))
    return [(name, dataclasses.replace(spec, queue_backend=backend,
                                       queue_url=spec.queue_url if backend == "sqs" else None))
            for name, spec in specs]


@pytest.mark.parametrize("backend", ["sqs", "redis"])
def test_no_endpoint_object_holds_a_control_plane_credential(control_plane, backend):
    control_plane.LLME_QUEUE_BACKEND = backend
    rendered = 0
    for name, spec in _every_endpoint_spec(backend):
        objects = render_endpoint(spec, keda_available=True, lws_available=True, vpa_available=True)
        assert_objects_hold_no_control_plane_secret(objects, control_plane)
        if spec.is_async and backend == "redis":
            secret = next(obj for obj in objects if obj["kind"] == "Secret")
            # The forwarder's own Redis user instead (endpoints/redis_acl.py).
            assert secret["stringData"]["REDIS_URL"].startswith(f"redis://{redis_acl.username(spec.id)}:"), name
        elif spec.is_async:
            secret = next(obj for obj in objects if obj["kind"] == "Secret")
            # On SQS only the report token (endpoints/report_tokens.py); no Redis URL, host,
            # user or trigger anywhere in the endpoint's objects, KEDA's included.
            assert secret["stringData"] == {report_tokens.ENV: report_tokens.token(spec.id)}, name
            text = json.dumps(objects).lower()
            assert "redis" not in text and REDIS_HOST not in text, name
            triggers = [trigger["type"] for obj in objects if obj["kind"] == "ScaledObject"
                        for trigger in obj["spec"]["triggers"]]
            assert triggers == ["aws-sqs-queue"], name
        rendered += 1
    assert rendered == 2 * len(FRAMEWORKS) + 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_job_or_trigger_object_holds_a_control_plane_credential(control_plane, api, k8s_api, tmp_path):
    control_plane.STORAGES = {**control_plane.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "files")}}}
    control_plane.LLME_FINE_TUNE_REPOSITORY = f"s3://{BUCKET}/fine-tuned"
    control_plane.LLME_DOCKER_REPO_PREFIX = "registry.example.com/llm-engine"
    control_plane.LLME_REGISTRY_CHECK = False
    control_plane.LLME_S3_BUCKET = BUCKET
    control_plane.LLME_SHARED_READ_PREFIXES = ["s3://weights/"]
    control_plane.LLME_AUTH_MODE = "trust-username"
    alice = api.as_user("alice")
    out = f"s3://{BUCKET}/llm-engine/teams/alice/out"

    upload = tmp_path / "train.csv"
    upload.write_bytes(b"prompt,response\nhello,world\n")
    with open(upload, "rb") as handle:
        file_id = alice.post("/v1/files", {"file": handle}, format="multipart").json()["id"]
    created = {
        "fine-tune": alice.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "training_file": file_id,
                                                       "hyperparameters": {}, "suffix": "cred"}, format="json"),
        "batch v1": alice.post("/v1/llm/batch-completions", {
            "output_data_path": f"{out}/v1.json", "content": {"prompts": ["hi"], "max_new_tokens": 4,
                                                              "temperature": 0.0},
            "model_config": {"model": "llama-2-7b", "labels": {"team": "ml"}}}, format="json"),
        "batch v2": alice.post("/v2/batch-completions", {
            "output_data_path": f"{out}/v2.json", "content": {"prompts": ["hi"], "max_new_tokens": 4,
                                                              "temperature": 0.0},
            "model_config": {"model": "llama-2-7b", "checkpoint_path": "s3://weights/llama"},
            "labels": {"team": "ml"}}, format="json"),
    }
    bundle = alice.post("/v1/docker-image-batch-job-bundles", {
        "name": "nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
        "env": {"MODE": "full"}, "mount_location": "/app/config.json",
        "resource_requests": {"cpus": "2", "memory": "4Gi", "gpus": None}}, format="json")
    assert bundle.status_code == 200, bundle.json()
    bundle_id = bundle.json()["docker_image_batch_job_bundle_id"]
    created["docker-image batch job"] = alice.post("/v1/docker-image-batch-jobs", {
        "docker_image_batch_job_bundle_id": bundle_id, "job_config": {"date": "today"}, "labels": {"team": "data"}},
        format="json")
    trigger = alice.post("/v1/triggers", {"name": "hourly", "cron_schedule": "0 * * * *", "bundle_id": bundle_id,
                                          "default_job_config": {"a": 1}}, format="json")
    for what, response in [*created.items(), ("trigger", trigger)]:
        assert response.status_code == 200, (what, response.json())

    for job in BatchJob.objects.all():
        job_sync(job.id)
    control_plane.LLME_AUTH_MODE = "api-key"  # the CronJob then carries the trigger's own key
    trigger_sync(Trigger.objects.get().id)

    jobs = k8s_api.objects("Job", NS)
    cron_jobs = k8s_api.objects("CronJob", NS)
    assert len(jobs) == 4 and len(cron_jobs) == 1, ([j["metadata"]["name"] for j in jobs], len(cron_jobs))
    for workload in jobs + cron_jobs:
        assert_no_control_plane_secret(workload, control_plane)
    everything = [obj for kind in ("Job", "CronJob", "Secret", "ConfigMap") for obj in k8s_api.objects(kind, NS)]
    assert any(obj["metadata"]["name"] == names.trigger_secret_name(Trigger.objects.get().id)
               for obj in everything)
    assert_objects_hold_no_control_plane_secret(everything, control_plane)


def test_the_charts_endpoint_namespace_objects_hold_no_control_plane_credential(control_plane):
    # The chart takes the Redis password from a Secret, never from a URL in its values (a URL
    # with a password is refused: it would land in a ConfigMap).
    objects = render_chart(*sets(
        f"config.values.llm_engine.cache_redis_url=redis://{REDIS_HOST}:6379/0",
        f"config.values.infra.redis_host={REDIS_HOST}",
        "redis.passwordSecret.name=llm-engine-redis",
    ))
    endpoint_namespace = next(obj["data"]["LLME_ENDPOINT_NAMESPACE"] for obj in objects
                              if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "llm-engine-config")
    assert endpoint_namespace != NS
    workload_side = [obj for obj in objects if obj["metadata"].get("namespace") == endpoint_namespace
                     or (obj["kind"] == "Namespace" and obj["metadata"]["name"] == endpoint_namespace)]
    assert {obj["kind"] for obj in workload_side} >= {"ConfigMap", "ServiceAccount"}
    infra = next(obj for obj in workload_side if obj["metadata"]["name"] == "llm-engine-infra-config")
    assert REDIS_HOST not in infra["data"]["config.json"]  # mounted into user containers
    control_plane.REDIS_URL = CONTROL_PLANE_REDIS_URL
    assert_objects_hold_no_control_plane_secret(workload_side, control_plane)
    assert not [obj for obj in workload_side if "llm-engine-redis" in str(obj)]  # nor the password's Secret
