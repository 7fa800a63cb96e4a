"""Endpoint and job events are one abstract model, newest first (llmengine_site/models.py,
docs/design.md#endpoint-state-machine); the fine-tune events route still reads them oldest first."""
from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.models import EndpointEvent
from jobs.events import fine_tune_events
from jobs.models import BatchJob, JobEvent
from llmengine_site.models import StatusEvent


def test_both_event_models_share_the_abstract_model_and_its_ordering():
    assert issubclass(EndpointEvent, StatusEvent) and issubclass(JobEvent, StatusEvent)
    assert EndpointEvent._meta.ordering == JobEvent._meta.ordering == ["-created_at", "-id"]
    assert {f.name: f.max_length for f in JobEvent._meta.fields if f.name.endswith("_status")} == {
        f.name: f.max_length for f in EndpointEvent._meta.fields if f.name.endswith("_status")}


@pytest.mark.django_db
def test_job_events_list_newest_first_and_the_route_reads_them_oldest_first():
    job = BatchJob.objects.create(owner="team", created_by="user", kind="FINE_TUNE", status="RUNNING",
                                  image="vllm:0.6.3", mount_location="/config.json", max_runtime_seconds=3600)
    now = timezone.now()
    for minutes, status in ((2, "PENDING"), (1, "RUNNING")):
        event = JobEvent.objects.create(job=job, old_status="", new_status=status)
        JobEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(minutes=minutes))
    assert [event.new_status for event in job.events.all()] == ["RUNNING", "PENDING"]
    assert [event["message"] for event in fine_tune_events(job)] == ["status PENDING", "status RUNNING"]
