"""Statuses, kinds and status groups of files, jobs and triggers
(docs/wire-contract.md#enumerations). One home."""
from django.db import models


class JobStatus(models.TextChoices):
    """`BatchJobStatus` of the contract: what fine-tunes and docker-image batch jobs report."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELLED = "CANCELLED"
    UNDEFINED = "UNDEFINED"
    TIMEOUT = "TIMEOUT"


# Jobs in these statuses still have (or will have) a Kubernetes Job doing work.
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
TERMINAL_STATUSES = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.CANCELLED, JobStatus.TIMEOUT)


class JobKind(models.TextChoices):
    FINE_TUNE = "fine_tune"
    BATCH_COMPLETION = "batch_completion"
    DOCKER_IMAGE = "docker_image"


class BatchCompletionStatus(models.TextChoices):
    """`BatchCompletionsJobStatus` (v2 batch completions) — lower-case wire values."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


_V2_STATUS = {
    JobStatus.PENDING: BatchCompletionStatus.QUEUED,
    JobStatus.RUNNING: BatchCompletionStatus.RUNNING,
    JobStatus.SUCCESS: BatchCompletionStatus.COMPLETED,
    JobStatus.FAILURE: BatchCompletionStatus.FAILED,
    JobStatus.TIMEOUT: BatchCompletionStatus.FAILED,
    JobStatus.CANCELLED: BatchCompletionStatus.CANCELLED,
}


def batch_completion_status(status: str) -> str:
    return _V2_STATUS.get(status, BatchCompletionStatus.UNKNOWN)


# Dataset column pairs a fine-tune accepts (docs/wire-contract.md#fine-tuning): prompt/response or
# input/output.
DATASET_COLUMN_PAIRS = (("prompt", "response"), ("input", "output"))
