"""An async task end to end: POST /v1/async-tasks on the live gateway → the endpoint's SQS queue
(moto, created by the builder) → the forwarder in queue mode, run with the arguments and the
Secret the builder rendered → the model server → the result, reported to the gateway, readable
only by its owner."""
import json
import time

import httpx
import pytest

from endpoints.builder import endpoint_spec, endpoint_sync
from endpoints.models import ModelEndpoint
from tests.fakes.model_servers import ModelServer
from tests.forwarder.async_endpoints import sqs_forwarder_env

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_async_task_goes_through_sqs_and_the_forwarder_and_only_its_owner_reads_it(
        gateway, k8s_api, aws, settings, start_forwarder):
    settings.LLME_QUEUE_BACKEND = "sqs"
    auth = ("team-a", "")
    bundle = httpx.post(f"{gateway}/v2/model-bundles", auth=auth, json={
        "name": "echo", "schema_location": "s3://b/s.json",
        "flavor": {"flavor": "runnable_image", "repository": "echo", "tag": "1", "command": ["serve"],
                   "healthcheck_route": "/health"}}).json()["model_bundle_id"]
    created = httpx.post(f"{gateway}/v1/model-endpoints", auth=auth, json={
        "name": "echo-async", "model_bundle_id": bundle, "endpoint_type": "async", "metadata": {}, "cpus": 1,
        "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 0, "max_workers": 1, "per_worker": 1,
        "labels": {}})
    assert created.status_code == 200, created.text
    endpoint = ModelEndpoint.objects.get(name="echo-async")
    endpoint_sync(endpoint.id)  # what the builder actor does: the queue and the Deployment
    endpoint.refresh_from_db()
    assert endpoint.status == "READY"

    with ModelServer("echo") as model:
        # Only what the builder gave the pod: its Secret (the report token), no Redis at all.
        start_forwarder(endpoint_spec(endpoint), model.url, env=sqs_forwarder_env(k8s_api, endpoint.id, gateway))
        submitted = httpx.post(f"{gateway}/v1/async-tasks?model_endpoint_id={endpoint.id}", auth=auth,
                               json={"args": {"y": 1}})
        assert submitted.status_code == 200, submitted.text
        task_id = submitted.json()["task_id"]
        deadline = time.monotonic() + 30
        while True:
            task = httpx.get(f"{gateway}/v1/async-tasks/{task_id}", auth=auth).json()
            if task["status"] in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert task["status"] == "SUCCESS", task
    assert json.loads(task["result"]["result"]) == {"echo": {"y": 1}}
    assert httpx.get(f"{gateway}/v1/async-tasks/{task_id}", auth=("team-b", "")).status_code == 404
    assert httpx.get(f"{gateway}/v1/async-tasks/unknown-task", auth=auth).status_code == 404
