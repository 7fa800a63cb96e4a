"""Every console action is recorded in the admin's log, so it shows under "Recent actions" on the
dashboard of the person who ran it (docs/console.md#recent-actions)."""
import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.contrib.admin.utils import quote
from django.urls import reverse

from endpoints.builder import endpoint_sync
from jobs.models import BatchJob, File, Trigger
from llmengine_site.models import ApiKey
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db

BUNDLE = {"name": "nightly", "image_repository": "team/etl", "image_tag": "1.0", "command": ["python", "run.py"],
          "mount_location": "/app/config.json", "resource_requests": {"cpus": "2", "memory": "4Gi", "gpus": None}}


@pytest.fixture(autouse=True)
def file_storage(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "files")}}}
    settings.LLME_REGISTRY_CHECK = False
    settings.LLME_FINE_TUNE_REPOSITORY = "s3://llme-test-weights/fine-tuned"


@pytest.fixture
def alice(api):
    return api.as_user("alice")


def upload(alice, name="t.csv", content=b"prompt,response\nhi,there\n") -> str:
    response = alice.post("/v1/files", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def fine_tune(alice) -> str:
    response = alice.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "training_file": upload(alice)}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def trigger(alice) -> str:
    bundle_id = alice.post("/v1/docker-image-batch-job-bundles", BUNDLE, format="json").json()[
        "docker_image_batch_job_bundle_id"]
    response = alice.post("/v1/triggers", {"name": "hourly", "cron_schedule": "0 * * * *", "bundle_id": bundle_id},
                          format="json")
    assert response.status_code == 200, response.json()
    return response.json()["trigger_id"]


def docker_job(alice) -> str:
    bundle_id = alice.post("/v1/docker-image-batch-job-bundles", BUNDLE, format="json").json()[
        "docker_image_batch_job_bundle_id"]
    response = alice.post("/v1/docker-image-batch-jobs",
                          {"docker_image_batch_job_bundle_id": bundle_id, "labels": {"team": "a"}}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def recent_actions(client) -> str:
    """The text of the dashboard's "Recent actions" box."""
    html = client.get(reverse("admin:index")).content.decode()
    start = html.index('id="recent-actions-module"')
    return html[start:html.index("</div>", start)]


def logged(user, obj_id, action_flag=CHANGE) -> list[str]:
    return [entry.get_change_message() for entry in
            LogEntry.objects.filter(user=user, object_id=str(obj_id), action_flag=action_flag).order_by("id")]


def test_endpoint_actions_are_in_recent_actions(operator_client, operator, k8s_api):
    endpoint, other = make_endpoint("echo-recent"), make_endpoint("other-recent")
    endpoint_sync(endpoint.id)  # built, so there are pods to restart
    endpoint_sync(other.id)
    for action, data in (("rebuild", {}), ("restart", {}), ("scale", {"min_workers": 0, "max_workers": 3}),
                         ("teardown", {"confirm_name": "echo-recent"})):
        operator_client.post(reverse(f"admin:endpoints_modelendpoint_{action}", args=[quote(endpoint.pk)]), data)
    operator_client.post(reverse("admin:endpoints_modelendpoint_changelist"),
                         {"action": "restart_selected", "_selected_action": [other.pk]})
    assert logged(operator, endpoint.pk) == [
        "rebuild queued", "rollout restart requested", "workers set to 0–3; update queued",
        "deletion queued; the row goes once its resources are torn down"]
    box = recent_actions(operator_client)
    assert "echo-recent" in box and "other-recent" in box


def test_api_key_issue_and_revoke_are_in_recent_actions(operator_client, operator):
    operator_client.post(reverse("admin:llmengine_site_apikey_add"),
                         {"name": "ci pipeline", "user_id": "alice", "team_id": "ml", "_save": "Save"})
    key = ApiKey.objects.get(name="ci pipeline")
    operator_client.post(reverse("admin:llmengine_site_apikey_revoke", args=[quote(key.pk)]))
    assert LogEntry.objects.filter(user=operator, object_id=str(key.pk)).count() == 2
    assert logged(operator, key.pk) == ["revoked"]
    assert str(key) in recent_actions(operator_client)


def test_job_file_and_trigger_actions_are_in_recent_actions(operator_client, operator, alice):
    fine_tune_id, job_id, trigger_id = fine_tune(alice), docker_job(alice), trigger(alice)
    file_id = upload(alice, "other.csv")
    operator_client.post(reverse("admin:jobs_finetune_changelist"),
                         {"action": "cancel_fine_tunes", "_selected_action": [fine_tune_id]})
    operator_client.post(reverse("admin:jobs_batchjob_changelist"),
                         {"action": "cancel_jobs", "_selected_action": [job_id]})
    for action in ("suspend_triggers", "resume_triggers"):
        operator_client.post(reverse("admin:jobs_trigger_changelist"), {"action": action, "_selected_action": [trigger_id]})
    trigger_name = str(Trigger.objects.get(pk=trigger_id))
    operator_client.post(reverse("admin:jobs_trigger_changelist"),
                         {"action": "delete_triggers", "_selected_action": [trigger_id]})
    file_name = str(File.objects.get(pk=file_id))
    operator_client.post(reverse("admin:jobs_file_changelist"), {"action": "delete_files", "_selected_action": [file_id]})

    assert BatchJob.objects.get(pk=fine_tune_id).status == "CANCELLED"
    assert BatchJob.objects.get(pk=job_id).status == "CANCELLED"
    assert logged(operator, fine_tune_id) == ["cancelled"]
    assert logged(operator, job_id) == ["cancelled"]
    assert logged(operator, trigger_id) == ["suspended", "resumed"]
    assert len(logged(operator, trigger_id, DELETION)) == 1
    assert len(logged(operator, file_id, DELETION)) == 1
    box = recent_actions(operator_client)
    for text in (fine_tune_id, job_id, trigger_name, file_name):
        assert text in box, text


def test_a_refused_action_is_not_logged(operator_client, operator):
    endpoint = make_endpoint("echo-refused")
    operator_client.post(reverse("admin:endpoints_modelendpoint_scale", args=[quote(endpoint.pk)]),
                         {"min_workers": 5, "max_workers": 1})
    operator_client.post(reverse("admin:endpoints_modelendpoint_teardown", args=[quote(endpoint.pk)]), {"confirm_name": "x"})
    assert not LogEntry.objects.filter(user=operator).exists()
