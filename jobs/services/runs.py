"""The job row behind every Kubernetes Job: check resources, create the row, cancel.

Flow (docs/design.md#desired-state-and-the-flow-of-a-change): a service writes the row (PENDING)
and sends `jobs.sync` after commit; the actor calls `jobs.converge.job_sync`, which applies the
config Secret and Job once (idempotent: server-side apply) or, for a cancelled job, deletes them.
The reconciler re-runs `job_sync` for rows whose message was lost and reads status back with
`jobs.status.job_record_status`.
"""
from django.db import transaction

from endpoints.resources import check_gpu_type_mapped, validate_resources
from jobs.choices import JobStatus
from jobs.models import BatchJob, JobEvent
from jobs.status import job_record_status
from jobs.tasks import sync_job
from llmengine_site.errors import InvalidRequest
from llmengine_site.transient import on_commit_best_effort

DEFAULT_MOUNT_LOCATION = "/restricted_launch/batch_payload.json"
DEFAULT_MAX_RUNTIME_SECONDS = 7 * 24 * 3600


def check_job_resources(*, cpus, memory, storage, gpus: int, gpu_type: str | None) -> None:
    """400 unless the resources are complete, fit one node, and the GPU type is mapped."""
    missing = [name for name, value in (("cpus", cpus), ("memory", memory)) if value in (None, "")]
    if missing:
        raise InvalidRequest("must be given (in the request or the bundle)", field=" and ".join(missing))
    validate_resources(cpus=cpus, memory=memory, storage=storage or None, gpus=gpus or 0, gpu_type=gpu_type)
    check_gpu_type_mapped(gpu_type)


def enqueue_sync(job_id: str) -> None:
    """Send `jobs.sync` for the job once the current transaction commits."""
    on_commit_best_effort(f"launch message of job {job_id}", sync_job.send, job_id)  # the cacher re-sends a lost one


def job_create(**fields) -> BatchJob:
    """Write a PENDING job row and enqueue its launch after commit. Fields are model fields."""
    with transaction.atomic():
        job = BatchJob.objects.create(**fields)
        JobEvent.objects.create(job=job, old_status="", new_status=job.status, reason="created")
        enqueue_sync(job.id)
    return job


def job_cancel(job: BatchJob) -> bool:
    """Stop a job: status CANCELLED at once (the row stays listed), its Kubernetes Job deleted
    after commit. True when the job is (now or already) cancelled; False for a finished job."""
    if job.status == JobStatus.CANCELLED:
        return True
    if not job_record_status(job.id, JobStatus.CANCELLED, "cancelled by request"):
        return BatchJob.objects.filter(pk=job.id, status=JobStatus.CANCELLED).exists()
    enqueue_sync(job.id)
    return True
