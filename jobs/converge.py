"""Converge steps of the jobs app: make the cluster match a job or trigger row (mirrors
`endpoints/builder.py`; docs/design.md#desired-state-and-the-flow-of-a-change).

The actors in `jobs/tasks.py` call `job_sync` and `trigger_sync` after a service's commit; the
reconciler calls them again for rows whose message was lost. Every step is idempotent
(server-side apply; deletes treat 404 as done) and raises InfraError for the actor to retry.
Imports run one way: services → actors → converge → status, models, manifests, infra.
"""
import logging

from django.conf import settings
from django.utils import timezone

from jobs import manifests
from jobs.choices import TERMINAL_STATUSES, JobStatus
from jobs.models import BatchJob, Trigger
from jobs.status import job_record_status
from llmengine_site import names
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import KubeClient, get_kube
from llmengine_site.services import api_key_create, api_key_revoke

logger = logging.getLogger(__name__)

NOT_CONFIGURED_HINT = (" Jobs are accepted without a cluster; set KUBECONFIG (or run in-cluster) and create the "
                       "job again.")


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
    kube.delete("batch/v1", "Job", names.job_name(job.id), namespace)
    kube.delete("v1", "Secret", names.job_config_name(job.id), namespace)
    kube.delete("v1", "ConfigMap", names.job_config_name(job.id), namespace)  # jobs launched when it was a ConfigMap
    BatchJob.objects.filter(pk=job.id, reaped_at__isnull=True).update(reaped_at=timezone.now())
    return True


def _credential_is_live(trigger: Trigger, kube: KubeClient) -> bool:
    if trigger.api_key is None or trigger.api_key.revoked_at is not None:
        return False
    return kube.get("v1", "Secret", names.trigger_secret_name(trigger.id), manifests.namespace()) is not None


def _issue_credential(trigger: Trigger, kube: KubeClient) -> None:
    """A fresh key for the trigger in its Secret; the previous key (if any) stops working."""
    key, raw = api_key_create(user_id=trigger.created_by, team_id=trigger.owner, name=f"trigger {trigger.id}")
    # In trust-username mode the gateway takes the credential as the user id itself.
    credential = raw if settings.LLME_AUTH_MODE == "api-key" else trigger.created_by
    body = {
        "docker_image_batch_job_bundle_id": trigger.bundle_id,
        "job_config": trigger.default_job_config,
        "labels": {**(trigger.default_job_metadata or {}), "trigger_id": trigger.id},
    }
    try:
        kube.apply(manifests.render_trigger_secret(trigger, credential, body))
    except Exception:
        api_key_revoke(key)  # never leave a live key that nothing holds
        raise
    old = trigger.api_key
    Trigger.objects.filter(pk=trigger.pk).update(api_key=key)
    if old is not None:
        api_key_revoke(old)


def trigger_sync(trigger_id: str, kube: KubeClient | None = None) -> str:
    """Converge the cluster with the row (idempotent): apply the Secret and CronJob, or remove
    them when the trigger is gone. Raises InfraError. Returns what it did."""
    kube = kube or get_kube()
    namespace = manifests.namespace()
    trigger = Trigger.objects.select_related("api_key").filter(pk=trigger_id).first()
    if trigger is None:
        kube.delete("batch/v1", "CronJob", names.trigger_name(trigger_id), namespace)
        kube.delete("v1", "Secret", names.trigger_secret_name(trigger_id), namespace)
        return "removed"
    if not _credential_is_live(trigger, kube):
        _issue_credential(trigger, kube)
    kube.apply(manifests.render_trigger_cron_job(trigger))
    Trigger.objects.filter(pk=trigger.pk, spec_version=trigger.spec_version).update(
        synced_version=trigger.spec_version, sync_error="")
    return "applied"
