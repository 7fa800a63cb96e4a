"""`manage.py reconcile`: one pass of both apps against the fake cluster, endpoint orphans left
alone, and a failing pass named without skipping the other (docs/operations.md#commands)."""
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from jobs.models import BatchJob
from llmengine_site import cacher, names
from tests.jobs.conftest import k8s_jobs

NS = "llm-engine"
BUNDLE = {"name": "nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
          "mount_location": "/app/config.json", "resource_requests": {"cpus": "1", "memory": "1Gi", "gpus": None}}


def _endpoint_objects(k8s_api, endpoint_id):
    return k8s_api.objects(namespace=NS, label_selector=f"llm-engine.io/endpoint-id={endpoint_id}")


@pytest.fixture
def owner(api):
    return api.as_user("alice")


def test_one_pass_moves_endpoint_statuses_and_relaunches_lost_jobs_without_pruning(owner, guide_llama_7b, k8s_api,
                                                                                     capsys):
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint = ModelEndpoint.objects.get(name=guide_llama_7b["name"])
    endpoint_sync(endpoint.id)
    k8s_api.mark_deployment_available(NS, ModelEndpoint.objects.get(pk=endpoint.id).destination, replicas=1)
    assert owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "name": "orphan"}, format="json").status_code == 200
    orphan_id = ModelEndpoint.objects.get(name="orphan").id
    endpoint_sync(orphan_id)
    ModelEndpoint.objects.filter(pk=orphan_id).delete()  # a row lost without teardown
    bundle_id = owner.post("/v1/docker-image-batch-job-bundles", BUNDLE, format="json").json()[
        "docker_image_batch_job_bundle_id"]
    job_id = owner.post("/v1/docker-image-batch-jobs", {"docker_image_batch_job_bundle_id": bundle_id, "labels": {}},
                        format="json").json()["job_id"]
    BatchJob.objects.filter(pk=job_id).update(created_at=timezone.now() - timedelta(minutes=5))  # its message lost

    call_command("reconcile")

    out = capsys.readouterr().out
    assert "endpoints: observed" in out and "launched: 1" in out
    assert ModelEndpoint.objects.get(pk=endpoint.id).status == "READY"
    assert names.job_name(job_id) in k8s_jobs(k8s_api)
    assert _endpoint_objects(k8s_api, orphan_id)  # pruning is prune_orphans' job, not this command's


def test_a_failing_pass_fails_the_command_after_the_other_pass_ran(monkeypatch, k8s_api):
    ran = []
    monkeypatch.setattr(cacher, "reconcile_once", lambda kube, prune: ran.append(("endpoints", prune)))

    def broken_jobs_pass(kube):
        raise RuntimeError("jobs broke")

    monkeypatch.setattr(cacher, "reconcile_jobs", broken_jobs_pass)
    with pytest.raises(CommandError, match="reconcile pass failed"):
        call_command("reconcile")
    assert ran == [("endpoints", False)]
