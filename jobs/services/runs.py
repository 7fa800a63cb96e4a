"""The Kubernetes Job behind every job row: create the row, launch, record status, cancel, reap.

Flow (docs/design.md#desired-state-and-the-flow-of-a-change): a service writes the row (PENDING)
and sends `jobs.sync` after commit; the
actor calls `job_sync`, which applies the config Secret and Job once (idempotent: server-side apply)
or, for a cancelled job, deletes them. The reconciler re-runs `job_sync` for rows whose message
was lost and reads status back with `job_record_status`.
"""
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from endpoints.resources import validate_resources
from jobs import manifests
from jobs.choices import ACTIVE_STATUSES, TERMINAL_STATUSES, JobStatus
from jobs.models import BatchJob, JobEvent
from llmengine_site.errors import InvalidRequest
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import KubeClient, get_kube

logger = logging.getLogger(__name__)

DEFAULT_MOUNT_LOCATION = "/restricted_launch/batch_payload.json"
DEFAULT_MAX_RUNTIME_SECONDS = 7 * 24 * 3600
NOT_CONFIGURED_HINT = (" Jobs are accepted without a cluster; set KUBECONFIG (or run in-cluster) and create the "
                       "job again.")


def check_job_resources(*, cpus, memory, storage, gpus: int, gpu_type: str | None) -> None:
    """400 unless the resources are complete, fit one node, and the GPU type is mapped."""
    missing = [name for name, value in (("cpus", cpus), ("memory", memory)) if value in (None, "")]
    if missing:
        raise InvalidRequest(f"{' and '.join(missing)}: must be given (in the request or the bundle)")
    validate_resources(cpus=cpus, memory=memory, storage=storage or None, gpus=gpus or 0, gpu_type=gpu_type)
    if gpu_type and gpu_type not in settings.LLME_GPU_NODE_LABELS:
        raise InvalidRequest(
            f"gpu_type: {gpu_type} has no node label mapping in this deployment (LLME_GPU_NODE_LABELS)"
        )


def _send_sync(job_id: str) -> None:
    from jobs.tasks import sync_job

    transaction.on_commit(lambda: sync_job.send(job_id))


def job_create(**fields) -> BatchJob:
    """Write a PENDING job row and enqueue its launch after commit. Fields are model fields."""
    with transaction.atomic():
        job = BatchJob.objects.create(**fields)
        JobEvent.objects.create(job=job, old_status="", new_status=job.status, reason="created")
        _send_sync(job.id)
    return job


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


def job_cancel(job: BatchJob) -> bool:
    """Stop a job: status CANCELLED at once (the row stays listed), its Kubernetes Job deleted
    after commit. True when the job is (now or already) cancelled; False for a finished job."""
    if job.status == JobStatus.CANCELLED:
        return True
    if not job_record_status(job.id, JobStatus.CANCELLED, "cancelled by request"):
        return BatchJob.objects.filter(pk=job.id, status=JobStatus.CANCELLED).exists()
    _send_sync(job.id)
    return True


def job_sync(job_id: str, kube: KubeClient | None = None) -> str:
    """Converge the cluster with the row: launch a PENDING job not launched yet, remove the
    objects of a cancelled one. Idempotent. Raises InfraError. Returns what it did."""
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    if job.status == JobStatus.CANCELLED or (job.cancel_requested_at and job.status in TERMINAL_STATUSES
                                              and job.reaped_at is None):
        if job.launched_at is None:  # nothing was created in any cluster
            return "nothing to do"
        return "reaped" if job_reap(job, kube or get_kube()) else "nothing to do"
    if job.status != JobStatus.PENDING or job.launched_at is not None:
        return "nothing to do"
    try:
        job_object = manifests.render_job(job)
    except ValueError as exc:  # e.g. a GPU type the operator removed from the node label map
        job_record_status(job.id, JobStatus.FAILURE, f"cannot render the job: {exc}")
        return "failed"
    try:
        kube = kube or get_kube()
        kube.apply(manifests.render_job_config_secret(job))
        kube.apply(job_object)
    except InfraError as exc:
        if exc.transient:
            raise  # the actor retries
        # Like an endpoint's build: a job that cannot be created ends FAILED with the reason.
        hint = NOT_CONFIGURED_HINT if "No Kubernetes cluster is configured" in exc.message else ""
        logger.warning("job %s cannot be created: %s", job.id, exc.message)
        job_record_status(job.id, JobStatus.FAILURE, f"cannot create the Kubernetes Job: {exc.message}{hint}")
        return "failed"
    BatchJob.objects.filter(pk=job.id, launched_at__isnull=True).update(launched_at=timezone.now())
    return "launched"


def job_reap(job: BatchJob, kube: KubeClient) -> bool:
    """Delete the job's Kubernetes Job (and its pods) and config; the row stays. Idempotent."""
    namespace = manifests.namespace()
    kube.delete("batch/v1", "Job", manifests.job_name(job.id), namespace)
    kube.delete("v1", "Secret", manifests.job_config_name(job.id), namespace)
    kube.delete("v1", "ConfigMap", manifests.job_config_name(job.id), namespace)  # jobs launched when it was a ConfigMap
    BatchJob.objects.filter(pk=job.id, reaped_at__isnull=True).update(reaped_at=timezone.now())
    return True
