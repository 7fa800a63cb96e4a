"""Reads of files, jobs, bundles and triggers, with tenant scoping written once
(docs/design.md#identity-and-ownership:
a foreign id answers exactly like an unknown one)."""
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch

from jobs.choices import ACTIVE_STATUSES, JobKind, JobStatus
from jobs.models import BatchJob, DockerImageBatchJobBundle, File, FineTune, FineTuneTemplate, Trigger
from llmengine_site.auth import Caller
from llmengine_site.choices import OrderBy
from llmengine_site.console_links import console_url
from llmengine_site.errors import ObjectNotFound

FILE_NOT_FOUND = "The specified file could not be found."
FINE_TUNE_NOT_FOUND = "The specified fine-tune job could not be found."
BATCH_JOB_NOT_FOUND = "The specified batch job could not be found"
BUNDLE_NOT_FOUND = "The specified batch job bundle could not be found"


def files_owned_by(caller: Caller) -> QuerySet:
    return File.objects.filter(owner=caller.team_id)


def file_owned_by(caller: Caller, file_id: str) -> File:
    file = files_owned_by(caller).filter(pk=file_id).first()
    if file is None:
        raise ObjectNotFound(FILE_NOT_FOUND)
    return file


def fine_tune_template(base_model: str) -> FineTuneTemplate | None:
    return FineTuneTemplate.objects.filter(base_model=base_model, enabled=True).first()


def jobs_owned_by(caller: Caller, kind: str | None = None) -> QuerySet:
    queryset = BatchJob.objects.filter(owner=caller.team_id)
    return queryset.filter(kind=kind) if kind else queryset


def job_owned_by(caller: Caller, job_id: str, kind: str | None = None, message: str = BATCH_JOB_NOT_FOUND) -> BatchJob:
    job = jobs_owned_by(caller, kind).filter(pk=job_id).first()
    if job is None:
        raise ObjectNotFound(message)
    return job


def fine_tune_owned_by(caller: Caller, fine_tune_id: str, message: str = FINE_TUNE_NOT_FOUND) -> BatchJob:
    return job_owned_by(caller, fine_tune_id, JobKind.FINE_TUNE, message)


def active_fine_tune_count(owner: str) -> int:
    return BatchJob.objects.filter(owner=owner, kind=JobKind.FINE_TUNE, status__in=ACTIVE_STATUSES).count()


def bundles_visible_to(caller: Caller) -> QuerySet:
    return DockerImageBatchJobBundle.objects.filter(Q(owner=caller.team_id) | Q(public=True))


def bundles_owned_by(caller: Caller, *, name: str | None = None, order_by: str | None = None) -> QuerySet:
    queryset = DockerImageBatchJobBundle.objects.filter(owner=caller.team_id)
    if name:
        queryset = queryset.filter(name=name)
    return queryset.order_by("created_at" if order_by == OrderBy.OLDEST else "-created_at")


def bundle_for_use(caller: Caller, *, bundle_id: str | None = None, name: str | None = None) -> DockerImageBatchJobBundle:
    """A bundle the caller owns or a public one, by id or (newest) by name."""
    queryset = bundles_visible_to(caller)
    bundle = (queryset.filter(pk=bundle_id) if bundle_id else queryset.filter(name=name)).order_by("-created_at").first()
    if bundle is None:
        raise ObjectNotFound(BUNDLE_NOT_FOUND)
    return bundle


def bundle_owned_by(caller: Caller, bundle_id: str) -> DockerImageBatchJobBundle:
    bundle = bundles_visible_to(caller).filter(pk=bundle_id).first()
    if bundle is None:
        raise ObjectNotFound(f"Docker Image Batch Job Bundle {bundle_id} was not found.")
    return bundle


def latest_bundle(caller: Caller, name: str) -> DockerImageBatchJobBundle:
    bundle = bundles_owned_by(caller, name=name).first()
    if bundle is None:
        raise ObjectNotFound(f"Docker Image Batch Job Bundle with name {name} was not found.")
    return bundle


def triggers_owned_by(caller: Caller) -> QuerySet:
    return Trigger.objects.filter(owner=caller.team_id)


def trigger_owned_by(caller: Caller, trigger_id: str) -> Trigger:
    trigger = triggers_owned_by(caller).filter(pk=trigger_id).first()
    if trigger is None:
        raise ObjectNotFound(f"Trigger {trigger_id} was not found.")
    return trigger


def _admin_link(job: BatchJob) -> str:
    try:
        return console_url(job, model=FineTune if job.kind == JobKind.FINE_TUNE else None)
    except NoReverseMatch:  # the admin is not mounted (API-only deployment)
        return ""


def dashboard_summary() -> dict:
    """Counts of running and failed jobs and the 10 most recent jobs, each with its admin link:
    `{"running": int, "pending": int, "failed": int, "recent": [{"id", "kind", "status", "owner",
    "created_at", "url"}]}`. Cheap: three counts and one small query."""
    recent = BatchJob.objects.order_by("-created_at")[:10]
    return {
        "running": BatchJob.objects.filter(status=JobStatus.RUNNING).count(),
        "pending": BatchJob.objects.filter(status=JobStatus.PENDING).count(),
        "failed": BatchJob.objects.filter(status__in=(JobStatus.FAILURE, JobStatus.TIMEOUT)).count(),
        "recent": [
            {"id": job.id, "kind": job.kind, "status": job.status, "owner": job.owner,
             "created_at": job.created_at.isoformat(), "url": _admin_link(job)}
            for job in recent
        ],
    }
