"""The jobs step of the cacher (docs/design.md#job-state-machine): read Job status back into the
rows (docs/wire-contract.md#job-status), serve succeeded fine-tunes, launch jobs whose message was lost, reap finished Jobs after their
retention (rows stay), and prune Kubernetes objects that have no row.

`reconcile_jobs(kube)` runs every pass of `manage.py run_cacher`; it raises only InfraError
from the first list calls (then nothing was changed) and logs per-job failures.
"""
import logging
from dataclasses import dataclass
from typing import ClassVar
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from jobs import events, manifests
from jobs.batch_runner import checkpoint, locations
from jobs.choices import ACTIVE_STATUSES, TERMINAL_STATUSES, JobKind, JobStatus
from jobs.converge import job_reap, job_sync, trigger_sync
from jobs.models import BatchJob, Trigger
from jobs.services.fine_tunes import fine_tune_serve
from jobs.status import job_record_status
from llmengine_site import labels, names
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import KubeClient
from llmengine_site.reconcile_summary import ReconcileSummary, changes

logger = logging.getLogger(__name__)

LAUNCH_GRACE = timedelta(seconds=30)  # a fresh row's own message is probably still in flight
MISSING_GRACE = timedelta(seconds=60)  # a just-applied Job may not be listed yet


@dataclass
class JobsSummary(ReconcileSummary):
    noun: ClassVar[str] = "job(s)"
    launched: list[str] = changes()
    served: list[str] = changes()
    reaped: list[str] = changes()


def retention() -> timedelta:
    return timedelta(seconds=settings.LLME_JOB_RETENTION_SECONDS)


def status_from_job(job_object: dict) -> tuple[str, str]:
    """(status, reason) of a Kubernetes Job, as docs/wire-contract.md#job-status says."""
    status = job_object.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or ""
            message = condition.get("message") or reason
            return (JobStatus.TIMEOUT if reason == "DeadlineExceeded" else JobStatus.FAILURE), message
        if condition.get("type") == "Complete":
            return JobStatus.SUCCESS, ""
    if status.get("failed", 0) > 0:
        return JobStatus.FAILURE, "the job's pod failed"
    completions = (job_object.get("spec") or {}).get("completions") or 1
    if status.get("succeeded", 0) >= completions:
        return JobStatus.SUCCESS, ""
    if status.get("ready", 0) > 0 or (status.get("active", 0) > 0 and "ready" not in status):
        return JobStatus.RUNNING, ""
    return JobStatus.PENDING, ""


def _observe(job: BatchJob, job_object: dict | None, kube: KubeClient, summary: JobsSummary) -> None:
    now = timezone.now()
    if job_object is None:
        if job.launched_at and now - job.launched_at > MISSING_GRACE:
            new_status, reason = JobStatus.FAILURE, "the Kubernetes Job disappeared before it finished"
        else:
            return
    else:
        new_status, reason = status_from_job(job_object)
    if job.kind == JobKind.BATCH_COMPLETION:
        progress = _batch_progress(job, summary)
        if progress and progress.get("error") and new_status in (JobStatus.FAILURE, JobStatus.TIMEOUT):
            reason = f"{reason}; the batch runner reported: {progress['error']}" if reason else progress["error"]
    if new_status in TERMINAL_STATUSES and job.kind == JobKind.FINE_TUNE and job_object is not None:
        try:  # keep the log: the pod goes when the Job is reaped
            BatchJob.objects.filter(pk=job.pk).update(final_events=events.cluster_events(job, kube))
        except InfraError as exc:
            summary.errors.append(f"{job.id}: could not keep its log: {exc}")
    if job_record_status(job.id, new_status, reason):
        summary.status_changes.append(f"{job.id}: {job.status} -> {new_status}")


def _batch_progress(job: BatchJob, summary: JobsSummary) -> dict | None:
    """Copy the batch runner's progress (num_completed / total, from storage) onto the row."""
    state = (job.job_config or {}).get("state_location")
    if not state:
        return None
    try:
        progress = checkpoint.summarize(checkpoint.read_reports(state))
    except (locations.LocationError, ValueError) as exc:
        summary.errors.append(f"{job.id}: could not read its progress: {exc}")
        return None
    if progress is not None and progress != job.progress:
        BatchJob.objects.filter(pk=job.pk).update(progress=progress)
    return progress


def _observe_active(kube: KubeClient, summary: JobsSummary) -> set[str]:
    """Read every Job we manage; move statuses; return the names seen."""
    listed = {item["metadata"]["name"]: item for item in kube.list("batch/v1", "Job", manifests.namespace(),
                                                                  label_selector=labels.job_selector())}
    summary.observed = len(listed)
    for job in BatchJob.objects.filter(status__in=ACTIVE_STATUSES, launched_at__isnull=False):
        _observe(job, listed.get(names.job_name(job.id)), kube, summary)
    return set(listed)


def _relaunch_lost(kube: KubeClient, summary: JobsSummary) -> None:
    cutoff = timezone.now() - LAUNCH_GRACE
    for job_id in BatchJob.objects.filter(status=JobStatus.PENDING, launched_at__isnull=True,
                                          created_at__lt=cutoff).values_list("id", flat=True):
        if job_sync(job_id, kube) == "launched":
            summary.launched.append(job_id)


def _serve_fine_tunes(summary: JobsSummary) -> None:
    for job in BatchJob.objects.filter(kind=JobKind.FINE_TUNE, status=JobStatus.SUCCESS, served_endpoint_id="").select_related("template"):
        endpoint_id = fine_tune_serve(job)
        summary.served.append(f"{job.id}: {endpoint_id or 'failed'}")


def _reap(kube: KubeClient, summary: JobsSummary) -> None:
    old = timezone.now() - retention()
    due = BatchJob.objects.filter(reaped_at__isnull=True, launched_at__isnull=False).filter(
        Q(status=JobStatus.CANCELLED) | Q(status__in=TERMINAL_STATUSES, completed_at__lt=old))
    for job in due:
        job_reap(job, kube)
        summary.reaped.append(job.id)


def _prune(kube: KubeClient, job_names: set[str], summary: JobsSummary) -> None:
    namespace = manifests.namespace()
    known = {names.job_name(job_id) for job_id in BatchJob.objects.filter(reaped_at__isnull=True).values_list("id", flat=True)}
    for name in sorted(job_names - known):  # no row, or a row whose objects were already reaped
        kube.delete("batch/v1", "Job", name, namespace)
        kube.delete("v1", "Secret", name + "-config", namespace)
        kube.delete("v1", "ConfigMap", name + "-config", namespace)  # jobs launched when it was a ConfigMap
        summary.pruned.append(name)
    triggers = {names.trigger_name(trigger_id) for trigger_id in Trigger.objects.values_list("id", flat=True)}
    for cron_job in kube.list("batch/v1", "CronJob", namespace, label_selector=labels.trigger_selector()):
        name = cron_job["metadata"]["name"]
        if name not in triggers:
            kube.delete("batch/v1", "CronJob", name, namespace)
            kube.delete("v1", "Secret", name + "-credential", namespace)
            summary.pruned.append(name)


def _sync_triggers(kube: KubeClient, summary: JobsSummary) -> None:
    for trigger_id in Trigger.objects.filter(synced_version__lt=F("spec_version")).values_list("id", flat=True):
        try:
            trigger_sync(trigger_id, kube)
        except InfraError as exc:
            Trigger.objects.filter(pk=trigger_id).update(sync_error=str(exc))
            summary.errors.append(f"{trigger_id}: {exc}")


def reconcile_jobs(kube: KubeClient) -> JobsSummary:
    """One pass; returns what it did (printed as one line by the cacher)."""
    summary = JobsSummary()
    job_names = _observe_active(kube, summary)
    for step in (lambda: _relaunch_lost(kube, summary), lambda: _serve_fine_tunes(summary),
                 lambda: _reap(kube, summary), lambda: _prune(kube, job_names, summary),
                 lambda: _sync_triggers(kube, summary)):
        try:
            step()
        except InfraError as exc:
            summary.errors.append(str(exc))
            logger.warning("jobs reconcile step failed: %s", exc)
    return summary
