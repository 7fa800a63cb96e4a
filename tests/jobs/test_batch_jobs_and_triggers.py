"""Docker-image batch job bundles and jobs, triggers as CronJobs with their own credential, and
the reconciler's status mapping, reaping and pruning
(docs/wire-contract.md#docker-image-batch-jobs, docs/wire-contract.md#triggers, docs/wire-contract.md#job-status)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.converge import job_sync, trigger_sync
from jobs.models import BatchJob, Trigger
from jobs.reconciler import reconcile_jobs, status_from_job
from jobs.selectors import dashboard_summary
from llmengine_site import names
from llmengine_site.infra.kube import get_kube
from llmengine_site.models import ApiKey
from tests.jobs.conftest import NS, assert_no_control_plane_secret, assert_valid, finish_job, k8s_jobs

BUNDLE = {"name": "nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
          "env": {"MODE": "full"}, "mount_location": "/app/config.json",
          "resource_requests": {"cpus": "2", "memory": "4Gi", "gpus": None}}


@pytest.fixture
def owner(api):
    return api.as_user("alice")


@pytest.fixture
def bundle_id(owner):
    response = owner.post("/v1/docker-image-batch-job-bundles", BUNDLE, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["docker_image_batch_job_bundle_id"]


def test_bundle_routes(owner, bundle_id, api):
    assert bundle_id.startswith("batbun_")
    assert owner.get(f"/v1/docker-image-batch-job-bundles/{bundle_id}").json()["cpus"] == "2"
    assert owner.get("/v1/docker-image-batch-job-bundles/latest?bundle_name=nightly").json()["id"] == bundle_id
    listed = owner.get("/v1/docker-image-batch-job-bundles?bundle_name=nightly").json()
    assert [b["id"] for b in listed["docker_image_batch_job_bundles"]] == [bundle_id]
    assert api.as_user("bob").get(f"/v1/docker-image-batch-job-bundles/{bundle_id}").status_code == 404
    bad = owner.post("/v1/docker-image-batch-job-bundles", {**BUNDLE, "resource_requests": {"cpus": "500", "memory": "1Gi"}}, format="json")
    assert bad.status_code == 400 and "resource request is invalid" in bad.json()["detail"]


def test_docker_image_batch_job_runs_finishes_and_is_reaped_after_retention(owner, bundle_id, k8s_api, settings):
    response = owner.post("/v1/docker-image-batch-jobs", {
        "docker_image_batch_job_bundle_id": bundle_id, "job_config": {"date": "today"}, "labels": {"team": "data"},
        "resource_requests": {"memory": "8Gi"}}, format="json")
    assert response.status_code == 200, response.json()
    job_id = response.json()["job_id"]
    job_sync(job_id)
    kube_job = k8s_jobs(k8s_api)[names.job_name(job_id)]
    assert_valid(kube_job)
    assert_no_control_plane_secret(kube_job, settings)
    container = kube_job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert {"name": "MODE", "value": "full"} in container["env"]
    assert container["volumeMounts"][0]["mountPath"] == "/app/config.json"
    finish_job(k8s_api, job_id, succeeded=False, reason="DeadlineExceeded")
    reconcile_jobs(get_kube())
    assert owner.get(f"/v1/docker-image-batch-jobs/{job_id}").json() == {"status": "TIMEOUT"}
    assert names.job_name(job_id) in k8s_jobs(k8s_api)  # kept for its retention
    BatchJob.objects.filter(pk=job_id).update(completed_at=timezone.now() - timedelta(days=8))
    reconcile_jobs(get_kube())
    assert k8s_jobs(k8s_api) == {}
    assert owner.get(f"/v1/docker-image-batch-jobs/{job_id}").json() == {"status": "TIMEOUT"}  # the row stays


def test_docker_image_batch_job_needs_exactly_one_bundle_reference(owner, bundle_id):
    body = {"docker_image_batch_job_bundle_id": bundle_id, "docker_image_batch_job_bundle_name": "nightly", "labels": {}}
    assert owner.post("/v1/docker-image-batch-jobs", body, format="json").status_code == 422
    body = {"docker_image_batch_job_bundle_id": "batbun_nope", "labels": {}}
    assert owner.post("/v1/docker-image-batch-jobs", body, format="json").status_code == 404
    assert not BatchJob.objects.exists()


def test_cancel_by_put(owner, bundle_id, k8s_api):
    job_id = owner.post("/v1/docker-image-batch-jobs", {"docker_image_batch_job_bundle_name": "nightly", "labels": {}},
                        format="json").json()["job_id"]
    job_sync(job_id)
    assert owner.put(f"/v1/docker-image-batch-jobs/{job_id}", {"cancel": True}, format="json").json() == {"success": True}
    job_sync(job_id)
    assert k8s_jobs(k8s_api) == {}
    assert owner.get(f"/v1/docker-image-batch-jobs/{job_id}").json() == {"status": "CANCELLED"}


def test_trigger_is_a_valid_cron_job_with_its_own_revocable_credential(owner, bundle_id, k8s_api, settings):
    response = owner.post("/v1/triggers", {"name": "hourly", "cron_schedule": "0 * * * *", "bundle_id": bundle_id,
                                           "default_job_config": {"a": 1}, "default_job_metadata": {"team": "data"}},
                          format="json")
    assert response.status_code == 200, response.json()
    trigger_id = response.json()["trigger_id"]
    settings.LLME_AUTH_MODE = "api-key"  # the CronJob then sends the trigger's own key
    trigger_sync(trigger_id)
    settings.LLME_AUTH_MODE = "trust-username"
    cron_job = k8s_api.get_object("CronJob", NS, names.trigger_name(trigger_id))
    secret = k8s_api.get_object("Secret", NS, names.trigger_secret_name(trigger_id))
    assert_valid(cron_job)
    assert_valid(secret)
    assert_no_control_plane_secret(cron_job, settings)
    key = Trigger.objects.get(pk=trigger_id).api_key
    assert key.name == f"trigger {trigger_id}" and key.revoked_at is None
    assert secret["stringData"]["credential"].startswith("llme-")
    assert f'"trigger_id": "{trigger_id}"' in secret["stringData"]["request.json"]
    assert owner.put(f"/v1/triggers/{trigger_id}", {"cron_schedule": "@daily", "suspend": True}, format="json").json() == {"success": True}
    reconcile_jobs(get_kube())
    spec = k8s_api.get_object("CronJob", NS, names.trigger_name(trigger_id))["spec"]
    assert (spec["schedule"], spec["suspend"]) == ("@daily", True)
    assert owner.get(f"/v1/triggers/{trigger_id}").json()["cron_schedule"] == "@daily"
    assert owner.delete(f"/v1/triggers/{trigger_id}").json() == {"success": True}
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    reconcile_jobs(get_kube())  # the teardown message may be lost: the reconciler prunes
    assert k8s_api.objects("CronJob", NS) == [] and k8s_api.objects("Secret", NS) == []


@pytest.mark.parametrize("cron", ["not a cron", "* * * * * *", "61 * * * *"])
def test_bad_cron_is_refused_naming_it(owner, bundle_id, cron):
    response = owner.post("/v1/triggers", {"name": "t", "cron_schedule": cron, "bundle_id": bundle_id}, format="json")
    assert response.status_code == 400 and cron in response.json()["detail"]
    assert not Trigger.objects.exists()


def test_jobs_launched_by_a_trigger_are_listed_under_it(owner, bundle_id):
    trigger_id = owner.post("/v1/triggers", {"name": "t", "cron_schedule": "@hourly", "bundle_id": bundle_id},
                            format="json").json()["trigger_id"]
    job_id = owner.post("/v1/docker-image-batch-jobs", {"docker_image_batch_job_bundle_id": bundle_id,
                        "labels": {"trigger_id": trigger_id}}, format="json").json()["job_id"]
    listed = owner.get(f"/v1/docker-image-batch-jobs?trigger_id={trigger_id}").json()["jobs"]
    assert [job["id"] for job in listed] == [job_id]
    assert owner.get("/v1/docker-image-batch-jobs?trigger_id=trig_nope").status_code == 404


def test_lost_launch_is_relaunched_and_orphans_are_pruned(owner, bundle_id, k8s_api):
    job_id = owner.post("/v1/docker-image-batch-jobs", {"docker_image_batch_job_bundle_id": bundle_id, "labels": {}},
                        format="json").json()["job_id"]
    BatchJob.objects.filter(pk=job_id).update(created_at=timezone.now() - timedelta(minutes=5))
    orphan = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "llm-engine-job-ft-orphan", "namespace": NS,
              "labels": {"app.kubernetes.io/managed-by": "llm-engine", "llm-engine.io/job-id": "ft-orphan"}},
              "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}}}
    get_kube().apply(orphan)
    summary = reconcile_jobs(get_kube())
    assert len(summary.launched) == 1 and len(summary.pruned) == 1
    assert "launched: 1" in str(summary) and "pruned: 1" in str(summary)
    assert set(k8s_jobs(k8s_api)) == {names.job_name(job_id)}
    assert dashboard_summary()["recent"][0]["id"] == job_id


@pytest.mark.parametrize("status, expected", [
    ({}, "PENDING"), ({"active": 1, "ready": 0}, "PENDING"), ({"active": 1, "ready": 1}, "RUNNING"),
    ({"succeeded": 1}, "SUCCESS"), ({"failed": 1}, "FAILURE"),
    ({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}, "TIMEOUT"),
])
def test_job_status_mapping(status, expected):
    assert status_from_job({"spec": {"completions": 1}, "status": status})[0] == expected


def test_template_loader_is_all_or_nothing(tmp_path, db):
    from django.core.management import CommandError, call_command

    from jobs.models import FineTuneTemplate

    good = tmp_path / "t.yaml"
    good.write_text("templates:\n- base_model: my-7b\n  image_repository: me/train\n  image_tag: v1\n"
                    "  command: [python, train.py]\n  cpus: '4'\n  memory: 16Gi\n  gpus: 1\n  gpu_type: nvidia-ampere-a10\n")
    call_command("load_fine_tune_templates", str(good))
    assert FineTuneTemplate.objects.get(base_model="my-7b").image_tag == "v1"
    bad = tmp_path / "t.json"
    bad.write_text('[{"base_model": "other", "image_repository": "x", "image_tag": "1", "command": ["a"], '
                   '"cpus": "4", "memory": "16Gi"}, {"base_model": "my-7b", "command": "not a list"}]')
    with pytest.raises(CommandError, match="command"):
        call_command("load_fine_tune_templates", str(bad))
    assert not FineTuneTemplate.objects.filter(base_model="other").exists()
