"""The operator console for jobs: pages render, actions go through the services, template
edits are validated, bulk delete is off where rows own cloud resources."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import BatchJob, FineTuneTemplate
from jobs.selectors import dashboard_summary


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("op", "op@example.com", "pw-123456789")
    client.force_login(user)
    return client


@pytest.fixture
def fine_tune_id(api):
    owner = api.as_user("alice")
    file_id = owner.post("/v1/files", {"file": SimpleUploadedFile("t.csv", b"prompt,response\n")}, format="multipart").json()["id"]
    return owner.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "training_file": file_id}, format="json").json()["id"]


def test_pages_render_and_bulk_delete_is_off(operator, fine_tune_id):
    for model in ("file", "batchjob", "finetune", "finetunetemplate", "dockerimagebatchjobbundle", "trigger"):
        response = operator.get(f"/admin/jobs/{model}/")
        assert response.status_code == 200, model
        if model in ("file", "batchjob", "finetune", "trigger"):
            assert b"delete_selected" not in response.content
    assert operator.get(f"/admin/jobs/finetune/{fine_tune_id}/change/").status_code == 200
    # A fine-tune's old link under batch jobs leads to its own page.
    assert operator.get(f"/admin/jobs/batchjob/{fine_tune_id}/change/")["Location"] == f"/admin/jobs/finetune/{fine_tune_id}/change/"


def test_cancel_action_uses_the_service(operator, fine_tune_id):
    operator.post("/admin/jobs/finetune/", {"action": "cancel_fine_tunes", "_selected_action": [fine_tune_id]})
    assert BatchJob.objects.get(pk=fine_tune_id).status == "CANCELLED"


def test_file_download_action_returns_the_bytes(operator, api):
    file_id = api.as_user("alice").post("/v1/files", {"file": SimpleUploadedFile("b.bin", b"\x00\xff")},
                                        format="multipart").json()["id"]
    response = operator.post("/admin/jobs/file/", {"action": "download", "_selected_action": [file_id]})
    assert b"".join(response.streaming_content) == b"\x00\xff"


def test_template_edit_is_validated(operator):
    template = FineTuneTemplate.objects.get(base_model="llama-2-7b")
    response = operator.post(f"/admin/jobs/finetunetemplate/{template.pk}/change/", {
        "base_model": "llama-2-7b", "image_repository": "x", "image_tag": "1", "command": '"not a list"',
        "env": "{}", "default_hyperparameters": "{}", "required_hyperparameters": "[]", "max_runtime_seconds": 60,
        "serve_framework": "vllm", "serve_framework_tag": "latest", "serve_min_workers": 0, "serve_max_workers": 1,
        "serve_per_worker": 2, "enabled": "on", "cpus": "4", "memory": "16Gi", "storage": "", "gpus": 0, "gpu_type": ""})
    assert response.status_code == 200 and b"non-empty JSON list" in response.content
    assert FineTuneTemplate.objects.get(pk=template.pk).image_repository != "x"


def test_dashboard_summary_counts_and_links(fine_tune_id):
    summary = dashboard_summary()
    assert (summary["pending"], summary["running"], summary["failed"]) == (1, 0, 0)
    assert summary["recent"][0]["url"] == f"/admin/jobs/finetune/{fine_tune_id}/change/"
