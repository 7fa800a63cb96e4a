"""Two teams, every route of `/openapi.json` (docs/security.md#what-isolates-teams).

Team A (an API key of team-a) creates one object of every kind through the live gateway; team B
(a key of team-b) then calls every operation of the served OpenAPI document with A's ids: read,
update, delete and use answer 404, lists never show A's objects, and nothing of A changes.
The document is iterated, so a new route is covered automatically: an operation whose path
parameter has no fixture below, or a parameterless operation not classified in `NO_ID_ROUTES`,
fails the test until it is given one. Public LLM endpoints: B may read and use, never change."""
import json

import httpx
import pytest

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from jobs.models import BatchJob, Trigger
from llmengine_site.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BUCKET = "llme-tenancy"
METHODS = ("get", "post", "put", "patch", "delete")

# What B sends as a body to an operation with A's id in its path: a valid request, so a 404 is
# the ownership check answering and not the body's validation.
BODIES = {
    ("PUT", "/v1/batch-jobs/{batch_job_id}"): {"cancel": True},
    ("PUT", "/v1/docker-image-batch-jobs/{batch_job_id}"): {"cancel": True},
    ("PUT", "/v1/llm/model-endpoints/{model_endpoint_name}"): {"max_workers": 2},
    ("PUT", "/v1/model-endpoints/{model_endpoint_id}"): {"max_workers": 2},
    ("PUT", "/v1/triggers/{trigger_id}"): {"suspend": True},
    ("POST", "/v2/batch-completions/{batch_completion_id}"): {"priority": "1"},
}


def _key(team: str) -> str:
    return api_key_create(user_id=f"{team}-user", team_id=team)[1]


@pytest.fixture
def teams(gateway, settings, k8s_api, tmp_path):
    settings.LLME_AUTH_MODE = "api-key"
    settings.LLME_QUEUE_BACKEND = "redis"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "files")}}}
    settings.LLME_FINE_TUNE_REPOSITORY = f"s3://{BUCKET}/fine-tuned"
    settings.LLME_DOCKER_REPO_PREFIX = "registry.example.com/llm-engine"
    settings.LLME_REGISTRY_CHECK = False
    settings.LLME_S3_BUCKET = BUCKET
    settings.LLME_SHARED_READ_PREFIXES = ["s3://weights/"]
    a = httpx.Client(base_url=gateway, auth=(_key("team-a"), ""), timeout=30)
    b = httpx.Client(base_url=gateway, auth=(_key("team-b"), ""), timeout=30)
    yield a, b
    a.close()
    b.close()


def _ok(response: httpx.Response, what: str) -> dict:
    assert response.status_code == 200, (what, response.status_code, response.text)
    return response.json()


def _create_everything(a: httpx.Client, tmp_path) -> dict:
    """One object of every kind, owned by team A; returns the value of every path parameter."""
    bundle = _ok(a.post("/v2/model-bundles", json={
        "name": "a-echo", "schema_location": "s3://b/s.json",
        "flavor": {"flavor": "runnable_image", "repository": "echo", "tag": "1", "command": ["serve"],
                   "healthcheck_route": "/health"}}), "bundle")["model_bundle_id"]
    _ok(a.post("/v1/model-endpoints", json={
        "name": "a-async", "model_bundle_id": bundle, "endpoint_type": "async", "metadata": {}, "cpus": 1,
        "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 0, "max_workers": 1, "per_worker": 1,
        "labels": {}}), "generic endpoint")
    endpoint = ModelEndpoint.objects.get(name="a-async")
    endpoint_sync(endpoint.id)  # the queue the async task goes to
    task = _ok(a.post(f"/v1/async-tasks?model_endpoint_id={endpoint.id}", json={"args": {"x": 1}}), "task")["task_id"]
    _ok(a.post("/v1/llm/model-endpoints", json={
        "name": "a-llama", "model_name": "llama-7b", "source": "hugging_face",
        "inference_framework": "text_generation_inference", "inference_framework_image_tag": "0.9.3",
        "num_shards": 1, "endpoint_type": "streaming", "cpus": 4, "gpus": 1, "memory": "16Gi", "storage": "40Gi",
        "gpu_type": "nvidia-ampere-a10", "min_workers": 0, "max_workers": 1, "per_worker": 1, "labels": {},
        "metadata": {}, "public_inference": False}), "LLM endpoint")
    upload = tmp_path / "train.csv"
    upload.write_bytes(b"prompt,response\nhello,world\n")
    with open(upload, "rb") as handle:
        file_id = _ok(a.post("/v1/files", files={"file": ("train.csv", handle)}), "file")["id"]
    fine_tune = _ok(a.post("/v1/llm/fine-tunes", json={"model": "llama-2-7b", "training_file": file_id,
                                                       "hyperparameters": {}, "suffix": "a"}), "fine-tune")["id"]
    out = f"s3://{BUCKET}/llm-engine/teams/team-a/out"
    content = {"prompts": ["hi"], "max_new_tokens": 4, "temperature": 0.0}
    batch_v1 = _ok(a.post("/v1/llm/batch-completions", json={
        "output_data_path": f"{out}/v1.json", "content": content, "model_config": {"model": "llama-2-7b"}}),
        "batch v1")["job_id"]
    response = a.post("/v2/batch-completions", json={
        "output_data_path": f"{out}/v2.json", "content": content, "model_config": {"model": "llama-2-7b"}})
    batch_v2 = _ok(response, "batch v2")["job_id"]
    docker_bundle = _ok(a.post("/v1/docker-image-batch-job-bundles", json={
        "name": "a-nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
        "env": {}, "mount_location": "/app/config.json",
        "resource_requests": {"cpus": "1", "memory": "1Gi", "gpus": None}}), "docker bundle")[
        "docker_image_batch_job_bundle_id"]
    docker_job = _ok(a.post("/v1/docker-image-batch-jobs", json={
        "docker_image_batch_job_bundle_id": docker_bundle, "job_config": {}, "labels": {}}), "docker job")["job_id"]
    trigger = _ok(a.post("/v1/triggers", json={"name": "a-hourly", "cron_schedule": "0 * * * *",
                                               "bundle_id": docker_bundle}), "trigger")["trigger_id"]
    return {
        "model_bundle_id": bundle, "model_endpoint_id": endpoint.id, "endpoint_id": endpoint.id,
        "model_endpoint_name": "a-llama", "task_id": task, "file_id": file_id, "fine_tune_id": fine_tune,
        "batch_job_id": docker_job, "batch_completion_id": batch_v2, "bundle_id": docker_bundle,
        "trigger_id": trigger, "batch_completion_v1": batch_v1,
    }


def _no_id_routes(ids: dict) -> dict:
    """Operations without a path parameter: how B tries A's objects through each (method, path,
    query, body, expectation). `list` = 200 without A's objects; `404`; `own` = creates only B's
    own object and names none of A's (not called here)."""
    out = f"s3://{BUCKET}/llm-engine/teams/team-a/stolen.json"
    content = {"prompts": ["hi"], "max_new_tokens": 4, "temperature": 0.0}
    return {
        ("GET", "/v1/docker-image-batch-job-bundles"): ({}, None, "list"),
        ("GET", "/v1/docker-image-batch-jobs"): ({}, None, "list"),
        ("GET", "/v1/files"): ({}, None, "list"),
        ("GET", "/v1/llm/fine-tunes"): ({}, None, "list"),
        ("GET", "/v1/llm/model-endpoints"): ({}, None, "list"),
        ("GET", "/v1/model-bundles"): ({}, None, "list"),
        ("GET", "/v2/model-bundles"): ({}, None, "list"),
        ("GET", "/v1/model-endpoints"): ({}, None, "list"),
        ("GET", "/v1/triggers"): ({}, None, "list"),
        ("GET", "/v1/models"): ({}, None, "list"),
        ("GET", "/v1/docker-image-batch-job-bundles/latest"): ({"bundle_name": "a-nightly"}, None, "404"),
        ("GET", "/v1/model-bundles/latest"): ({"model_name": "a-echo"}, None, "404"),
        ("GET", "/v2/model-bundles/latest"): ({"model_name": "a-echo"}, None, "404"),
        ("POST", "/v1/docker-image-batch-jobs"): ({}, {"docker_image_batch_job_bundle_id": ids["bundle_id"],
                                                       "job_config": {}, "labels": {}}, "404"),
        ("POST", "/v1/triggers"): ({}, {"name": "b-steal", "cron_schedule": "0 * * * *",
                                        "bundle_id": ids["bundle_id"]}, "404"),
        ("POST", "/v1/llm/fine-tunes"): ({}, {"model": "llama-2-7b", "training_file": ids["file_id"],
                                              "hyperparameters": {}}, "refused"),
        ("POST", "/v1/model-endpoints"): ({}, {
            "name": "b-steal", "model_bundle_id": ids["model_bundle_id"], "endpoint_type": "sync", "metadata": {},
            "cpus": 1, "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 0, "max_workers": 1,
            "per_worker": 1, "labels": {}}, "404"),
        ("POST", "/v1/model-bundles/clone-with-changes"): ({}, {"original_model_bundle_id": ids["model_bundle_id"]},
                                                          "404"),
        ("POST", "/v2/model-bundles/clone-with-changes"): ({}, {"original_model_bundle_id": ids["model_bundle_id"]},
                                                          "404"),
        ("POST", "/v1/llm/model-endpoints/download"): ({}, {"model_name": "a-llama"}, "404"),
        ("POST", "/v1/llm/completions-sync"): ({"model_endpoint_name": "a-llama"},
                                               {"prompt": "hi", "max_new_tokens": 4, "temperature": 0.0}, "404"),
        ("POST", "/v1/llm/completions-stream"): ({"model_endpoint_name": "a-llama"},
                                                 {"prompt": "hi", "max_new_tokens": 4, "temperature": 0.0}, "404"),
        ("POST", "/v1/chat/completions"): ({}, {"model": "a-llama", "messages": [{"role": "user", "content": "hi"}]},
                                           "404"),
        ("POST", "/v1/completions"): ({}, {"model": "a-llama", "prompt": "hi"}, "404"),
        ("POST", "/v1/sync-tasks"): ({"model_endpoint_id": ids["model_endpoint_id"]}, {"args": {}}, "404"),
        ("POST", "/v1/streaming-tasks"): ({"model_endpoint_id": ids["model_endpoint_id"]}, {"args": {}}, "404"),
        ("POST", "/v1/async-tasks"): ({"model_endpoint_id": ids["model_endpoint_id"]}, {"args": {}}, "404"),
        # Writing into A's storage prefix is refused (storage scoping).
        ("POST", "/v1/llm/batch-completions"): ({}, {"output_data_path": out, "content": content,
                                                     "model_config": {"model": "llama-2-7b"}}, "refused"),
        ("POST", "/v2/batch-completions"): ({}, {"output_data_path": out, "content": content,
                                                 "model_config": {"model": "llama-2-7b"}}, "refused"),
        ("POST", "/v1/batch-jobs"): ({}, None, "own"),
        ("POST", "/v1/docker-image-batch-job-bundles"): ({}, None, "own"),
        ("POST", "/v1/files"): ({}, None, "own"),
        ("POST", "/v1/llm/model-endpoints"): ({}, None, "own"),
        ("POST", "/v1/model-bundles"): ({}, None, "own"),
        ("POST", "/v2/model-bundles"): ({}, None, "own"),
    }


# The KEDA metrics-api source: unauthenticated by design (KEDA calls it inside the cluster) and
# answers a count only (docs/design.md#kubernetes-objects-per-endpoint).
UNAUTHENTICATED_COUNT = ("GET", "/v1/internal/endpoints/{endpoint_id}/autoscaling-metrics")
# Operations whose contract answers a foreign or unknown id without 404 (docs/wire-contract.md):
# B must get exactly what an id that does not exist gets.
NOT_FOUND_ANSWERS = {("PUT", "/v1/llm/fine-tunes/{fine_tune_id}/cancel"): (200, {"success": False})}


def _snapshot() -> str:
    rows = [list(ModelEndpoint.objects.order_by("id").values("id", "name", "owner", "max_workers", "status"))]
    rows.append(list(BatchJob.objects.order_by("id").values("id", "owner", "status")))
    rows.append(list(Trigger.objects.order_by("id").values("id", "owner", "suspend", "cron_schedule")))
    return json.dumps(rows, default=str, sort_keys=True)


def test_team_b_reaches_none_of_team_as_objects_through_any_route(teams, tmp_path):
    a, b = teams
    ids = _create_everything(a, tmp_path)
    secrets_of_a = [value for key, value in ids.items() if value] + ["a-llama", "a-echo", "a-nightly", "a-hourly",
                                                                     "a-async"]
    document = a.get("/openapi.json").json()
    no_id = _no_id_routes(ids)
    before = _snapshot()
    problems, called = [], 0
    for path, operations in document["paths"].items():
        for method in (m for m in operations if m in METHODS):
            method = method.upper()
            names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
            if (method, path) == UNAUTHENTICATED_COUNT:
                response = b.get(path.format(**ids))
                if set(response.json()) != {"in_flight"}:
                    problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
                continue
            if names:
                missing = [name for name in names if name not in ids]
                if missing:
                    problems.append(f"{method} {path}: no fixture for {missing}")
                    continue
                url = path.format(**ids)
                if path.startswith("/v1/batch-jobs/"):
                    url = path.format(batch_job_id=ids["batch_completion_v1"])
                body = BODIES.get((method, path))
                response = b.request(method, url, json=body) if body is not None or method in ("POST", "PUT") \
                    else b.request(method, url)
                called += 1
                if (method, path) in NOT_FOUND_ANSWERS:
                    if (response.status_code, response.json()) != NOT_FOUND_ANSWERS[(method, path)]:
                        problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
                elif response.status_code != 404:
                    problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
                continue
            if (method, path) not in no_id:
                problems.append(f"{method} {path}: not classified in _no_id_routes")
                continue
            query, body, expect = no_id[(method, path)]
            if expect == "own":
                continue
            response = b.request(method, path, params=query, json=body)
            called += 1
            text = response.text
            if expect == "list":
                leaked = [value for value in secrets_of_a if value in text]
                if response.status_code != 200 or leaked:
                    problems.append(f"{method} {path}: {response.status_code}, shows {leaked}")
            elif expect == "404" and response.status_code != 404:
                problems.append(f"{method} {path}: {response.status_code} {text[:200]}")
            elif expect == "refused" and not 400 <= response.status_code < 500:
                problems.append(f"{method} {path}: {response.status_code} {text[:200]}")
    assert problems == []
    assert called >= 50
    assert _snapshot() == before  # nothing of A changed (B created nothing either)


def test_a_public_llm_endpoint_is_read_and_used_by_others_but_changed_only_by_its_owner(teams, settings):
    a, b = teams
    settings.LLME_INFERENCE_DEADLINE_SECONDS = 1.0  # no worker runs here: B's request waits for none
    _ok(a.post("/v1/llm/model-endpoints", json={
        "name": "a-public", "model_name": "llama-7b", "source": "hugging_face",
        "inference_framework": "text_generation_inference", "inference_framework_image_tag": "0.9.3",
        "num_shards": 1, "endpoint_type": "streaming", "cpus": 4, "gpus": 1, "memory": "16Gi", "storage": "40Gi",
        "gpu_type": "nvidia-ampere-a10", "min_workers": 0, "max_workers": 1, "per_worker": 1, "labels": {},
        "metadata": {}, "public_inference": True}), "public LLM endpoint")

    assert b.get("/v1/llm/model-endpoints/a-public").status_code == 200
    assert [e["name"] for e in b.get("/v1/llm/model-endpoints").json()["model_endpoints"]] == ["a-public"]
    used = b.post("/v1/llm/completions-sync", params={"model_endpoint_name": "a-public"},
                  json={"prompt": "hi", "max_new_tokens": 4, "temperature": 0.0})
    # Accepted and routed to the endpoint, which has no worker here: B gets what A gets.
    own = a.post("/v1/llm/completions-sync", params={"model_endpoint_name": "a-public"},
                 json={"prompt": "hi", "max_new_tokens": 4, "temperature": 0.0})
    assert used.status_code not in (401, 403, 404) and used.status_code == own.status_code, (used.text, own.text)
    assert b.put("/v1/llm/model-endpoints/a-public", json={"max_workers": 2}).status_code in (403, 404)
    assert b.delete("/v1/llm/model-endpoints/a-public").status_code in (403, 404)
    endpoint = ModelEndpoint.objects.get(name="a-public")
    assert (endpoint.max_workers, endpoint.status) == (1, endpoint.status)
    assert endpoint.status != "DELETE_IN_PROGRESS"
