"""Response bodies (docs/wire-contract.md#routes)."""
from jobs.models import BatchJob, DockerImageBatchJobBundle, File, Trigger


def _time(value):
    return value.isoformat() if value else None


def file_body(file: File) -> dict:
    return {"id": file.id, "filename": file.filename, "size": file.size}


def fine_tune_body(job: BatchJob) -> dict:
    return {"id": job.id, "fine_tuned_model": job.fine_tuned_model or None, "status": job.status}


def docker_image_batch_job_body(job: BatchJob) -> dict:
    return {
        "id": job.id, "created_by": job.created_by, "owner": job.owner, "created_at": _time(job.created_at),
        "completed_at": _time(job.completed_at), "status": job.status, "annotations": job.annotations or None,
        "override_job_max_runtime_s": job.max_runtime_seconds, "num_workers": job.num_workers,
    }


def bundle_body(bundle: DockerImageBatchJobBundle) -> dict:
    return {
        "id": bundle.id, "name": bundle.name, "created_at": _time(bundle.created_at),
        "image_repository": bundle.image_repository, "image_tag": bundle.image_tag, "command": bundle.command,
        "env": bundle.env, "mount_location": bundle.mount_location, "cpus": bundle.cpus or None,
        "memory": bundle.memory or None, "storage": bundle.storage or None, "gpus": bundle.gpus,
        "gpu_type": bundle.gpu_type, "public": bundle.public,
    }


def trigger_body(trigger: Trigger) -> dict:
    return {
        "id": trigger.id, "name": trigger.name, "owner": trigger.owner, "created_by": trigger.created_by,
        "created_at": _time(trigger.created_at), "cron_schedule": trigger.cron_schedule,
        "docker_image_batch_job_bundle_id": trigger.bundle_id, "default_job_config": trigger.default_job_config,
        "default_job_metadata": trigger.default_job_metadata, "suspend": trigger.suspend,
    }
