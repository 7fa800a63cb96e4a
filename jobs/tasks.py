"""Dramatiq actors of the jobs app: a few lines each over a converge step
(docs/design.md#services-selectors-and-actors)."""
import dramatiq

from jobs.converge import job_sync, trigger_sync
from llmengine_site.actors import RETRY_OPTIONS, converge

_OPTIONS = dict(queue_name="jobs", time_limit=5 * 60 * 1000, **RETRY_OPTIONS)


@dramatiq.actor(actor_name="jobs.sync", **_OPTIONS)
def sync_job(job_id: str) -> None:
    """Launch or tear down the job's Kubernetes objects (idempotent)."""
    converge(job_sync, job_id)


@dramatiq.actor(actor_name="jobs.sync_trigger", **_OPTIONS)
def sync_trigger(trigger_id: str) -> None:
    """Apply the trigger's CronJob and credential Secret, or remove them once it is deleted."""
    converge(trigger_sync, trigger_id)
