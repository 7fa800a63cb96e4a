"""Dramatiq actors of the jobs app: a few lines each over a service (design §10.2)."""
import dramatiq

from llmengine_site.infra import InfraError


class TransientJobError(Exception):
    """Raised to make Dramatiq retry with backoff."""


def _retry_transient(retries_so_far: int, exc: Exception) -> bool:
    return isinstance(exc, TransientJobError)


def _run(function, object_id: str) -> None:
    try:
        function(object_id)
    except InfraError as exc:
        if exc.transient:
            raise TransientJobError(str(exc)) from exc
        raise


_OPTIONS = dict(queue_name="jobs", max_retries=12, min_backoff=1_000, max_backoff=60_000,
                time_limit=5 * 60 * 1000, retry_when=_retry_transient)


@dramatiq.actor(actor_name="jobs.sync", **_OPTIONS)
def sync_job(job_id: str) -> None:
    """Launch or tear down the job's Kubernetes objects (idempotent)."""
    from jobs.services.runs import job_sync

    _run(job_sync, job_id)


@dramatiq.actor(actor_name="jobs.sync_trigger", **_OPTIONS)
def sync_trigger(trigger_id: str) -> None:
    """Apply the trigger's CronJob and credential Secret, or remove them once it is deleted."""
    from jobs.services.triggers import trigger_sync

    _run(trigger_sync, trigger_id)
