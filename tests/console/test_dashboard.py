"""The dashboard (admin index): endpoints by status, failing endpoints with reasons, queue
depths, jobs, recent events; each item links to its page."""
import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from endpoints import infra_state
from jobs.models import BatchJob
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db


def test_failing_endpoint_is_listed_with_its_reason_and_link(operator_client, failing_endpoint):
    html = operator_client.get(reverse("admin:index")).content.decode()
    dashboard = html[html.index('id="dashboard"'):]
    assert reverse("admin:endpoints_modelendpoint_change", args=[quote(failing_endpoint.pk)]) in dashboard
    assert "cannot be pulled (ImagePullBackOff)" in dashboard


def test_status_counts_link_to_the_filtered_list(operator_client):
    make_endpoint("a", status="READY")
    make_endpoint("b", status="READY")
    make_endpoint("c", status="UPDATE_FAILED", status_reason="pods cannot be scheduled")
    response = operator_client.get(reverse("admin:index"))
    assert dict(response.context["dashboard"]["status_counts"]) == {
        "READY": 2, "UPDATE_PENDING": 0, "UPDATE_IN_PROGRESS": 0, "UPDATE_FAILED": 1, "DELETE_IN_PROGRESS": 0}
    assert f'{reverse("admin:endpoints_modelendpoint_changelist")}?status__exact=UPDATE_FAILED' in response.content.decode()


def test_async_queues_deepest_first_with_unmeasured_last(operator_client):
    shallow, deep, unmeasured = (make_endpoint(name, endpoint_type="async") for name in ("shallow", "deep", "new"))
    make_endpoint("sync-one")
    infra_state.write_states({shallow.pk: {"num_queued_items": 3}, deep.pk: {"num_queued_items": 120}})
    rows = operator_client.get(reverse("admin:index")).context["dashboard"]["queues"]
    assert [(row["endpoint"].name, row["depth"]) for row in rows] == [("deep", 120), ("shallow", 3), ("new", None)]


def test_recent_events_link_to_their_endpoint(operator_client, failing_endpoint):
    response = operator_client.get(reverse("admin:index"))
    events = response.context["dashboard"]["events"]
    assert events[0].new_status == "UPDATE_FAILED" and events[0].endpoint_id == failing_endpoint.pk


def test_jobs_section_shows_the_jobs_summary(operator_client):
    assert "No jobs yet." in operator_client.get(reverse("admin:index")).content.decode()
    job = BatchJob.objects.create(
        kind="docker_image", owner="team-a", created_by="user-a", image="team-a/etl:1", status="RUNNING",
        mount_location="/app/config.json", max_runtime_seconds=3600, job_config={})
    response = operator_client.get(reverse("admin:index"))
    html = response.content.decode()
    assert 'id="jobs-summary"' in html
    assert f'href="{reverse("admin:jobs_batchjob_change", args=[quote(job.pk)])}"' in html
    assert ("running", 1) in response.context["dashboard"]["jobs"]["counts"]


def test_staff_without_endpoint_permissions_get_no_numbers(client, django_user_model):
    user = django_user_model.objects.create_user(username="nobody", password="x", is_staff=True)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200 and response.context["dashboard"] is None
