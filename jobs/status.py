"""Status recording of jobs: every status move goes through here and leaves an event row
(docs/design.md#desired-state-and-the-flow-of-a-change).

Used by the services (cancel), the converge steps and the reconciler; imports only models."""
from django.db import transaction
from django.utils import timezone

from jobs.choices import ACTIVE_STATUSES, TERMINAL_STATUSES
from jobs.models import BatchJob, JobEvent


def job_record_status(job_id: str, new_status: str, reason: str = "", *, only_from=ACTIVE_STATUSES) -> bool:
    """Move a job to `new_status` if it is in one of `only_from`; record the transition.
    Returns whether it moved. Terminal statuses set `completed_at` once."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(pk=job_id, status__in=only_from).first()
        if job is None or (job.status == new_status and job.status_reason == reason):
            return False
        old_status = job.status
        job.status, job.status_reason = new_status, reason
        fields = ["status", "status_reason"]
        if new_status in TERMINAL_STATUSES and job.completed_at is None:
            job.completed_at = timezone.now()
            fields.append("completed_at")
        job.save(update_fields=fields)
        JobEvent.objects.create(job=job, old_status=old_status, new_status=new_status, reason=reason)
    return True
