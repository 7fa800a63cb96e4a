"""The console's Fine-tunes page (docs/console.md#pages): its own list with status, base model,
progress and the endpoint each produced; a read-only page with the events; cancel for operators,
through the same service as the API."""
import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from jobs.models import BatchJob
from tests.console.conftest import make_endpoint
from tests.console.test_recent_actions import file_storage, fine_tune  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(api):
    return api.as_user("alice")


def test_fine_tunes_have_a_page_of_their_own(viewer_client, alice):
    running_id, served_id = fine_tune(alice), fine_tune(alice)
    BatchJob.objects.filter(pk=running_id).update(status="RUNNING", launched_at=timezone.now())
    endpoint = make_endpoint("llama-2-7b.support", owner="alice")
    BatchJob.objects.filter(pk=served_id).update(status="SUCCESS", launched_at=timezone.now(),
                                                 completed_at=timezone.now(), served_endpoint_id=endpoint.pk)

    index = viewer_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:jobs_finetune_changelist") in index and "Fine-tunes" in index
    listing = viewer_client.get(reverse("admin:jobs_finetune_changelist")).content.decode()
    for text in (running_id, served_id, "RUNNING", "SUCCESS", "llama-2-7b", "running for",
                 reverse("admin:endpoints_modelendpoint_change", args=[quote(endpoint.pk)])):
        assert text in listing, text
    batch_jobs = viewer_client.get(reverse("admin:jobs_batchjob_changelist")).content.decode()
    assert running_id not in batch_jobs  # batch jobs are the other kinds

    page = viewer_client.get(reverse("admin:jobs_finetune_change", args=[quote(served_id)])).content.decode()
    assert "View fine-tune" in page and "Change fine-tune" not in page
    assert 'name="_save"' not in page and "Cancel this job" not in page  # a viewer has no action
    assert "status SUCCESS" in page or "SUCCESS" in page
    assert "created" in page  # the events: the status transition written at creation
    assert endpoint.name in page


def test_operator_cancels_from_the_page_as_the_api_does(operator_client, alice):
    job_id = fine_tune(alice)
    page = operator_client.get(reverse("admin:jobs_finetune_change", args=[quote(job_id)])).content.decode()
    assert "View fine-tune" in page and 'name="_save"' not in page and "Cancel this job" in page
    response = operator_client.post(reverse("admin:jobs_finetune_cancel", args=[quote(job_id)]), follow=True)
    assert f"{job_id}: cancelled" in response.content.decode(), response.content.decode().split("messagelist")[1][:300]
    job = BatchJob.objects.get(pk=job_id)
    assert job.status == "CANCELLED" and job.cancel_requested_at is not None
    assert job_id not in [row["id"] for row in alice.get("/v1/llm/fine-tunes").json()["jobs"]]
    assert "Cancel this job" not in operator_client.get(reverse("admin:jobs_finetune_change", args=[quote(job_id)])).content.decode()


def test_viewer_cannot_cancel(viewer_client, alice):
    job_id = fine_tune(alice)
    assert viewer_client.post(reverse("admin:jobs_finetune_cancel", args=[quote(job_id)])).status_code == 403
    viewer_client.post(reverse("admin:jobs_finetune_changelist"), {"action": "cancel_fine_tunes", "_selected_action": [job_id]})
    assert BatchJob.objects.get(pk=job_id).status == "PENDING"


@pytest.mark.parametrize("page", ["admin:jobs_batchjob_change", "admin:jobs_file_change", "admin:jobs_trigger_change"])
def test_read_only_job_pages_are_view_pages(operator_client, alice, page):
    from tests.console.test_recent_actions import docker_job, trigger, upload

    object_id = {"admin:jobs_batchjob_change": docker_job, "admin:jobs_file_change": upload,
                 "admin:jobs_trigger_change": trigger}[page](alice)
    html = operator_client.get(reverse(page, args=[quote(object_id)])).content.decode()
    assert "<h1>View " in html.replace("\n", "") or "View " in html
    assert "Change " not in html.split("<title>")[1].split("</title>")[0]
    assert 'name="_save"' not in html and 'name="_continue"' not in html
