"""Fine-tune events (docs/wire-contract.md#fine-tunes-and-model-download): what the training job
said, readable while it runs.

Sources, merged in time order: the job's status transitions (rows), the training container's
log (JSON lines `{"timestamp", "message", "level"}`; any other line is an `info` message) and
the Kubernetes Events of the Job and its pods (scheduling, image pulls, evictions). When a job
finishes, the reconciler keeps its log events on the row, so they outlive the pod.
"""
import json
import logging
from datetime import datetime

from django.conf import settings

from jobs import manifests
from jobs.models import BatchJob
from llmengine_site import names
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import KubeClient, get_kube

logger = logging.getLogger(__name__)


def _log_lines() -> int:
    return settings.LLME_FINE_TUNE_EVENT_LOG_LINES


def parse_log_line(line: str) -> dict | None:
    line = line.strip()
    if not line:
        return None
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and "message" in record:
            timestamp = record.get("timestamp")
            return {
                "timestamp": float(timestamp) if isinstance(timestamp, (int, float)) else None,
                "message": str(record["message"]),
                "level": str(record.get("level") or "info"),
            }
    return {"timestamp": None, "message": line, "level": "info"}


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def cluster_events(job: BatchJob, kube: KubeClient) -> list[dict]:
    """Log and Kubernetes events of the job's pods, read live. Raises InfraError."""
    namespace = manifests.namespace()
    name = names.job_name(job.id)
    pods = kube.list("v1", "Pod", namespace, label_selector={"job-name": name})
    events: list[dict] = []
    involved = [name] + [pod["metadata"]["name"] for pod in pods]
    for involved_name in involved:
        for event in kube.list("v1", "Event", namespace, field_selector=f"involvedObject.name={involved_name}"):
            events.append({
                "timestamp": _timestamp(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")),
                "message": f"{event.get('reason', '')}: {event.get('message', '')}".strip(": "),
                "level": "warning" if event.get("type") == "Warning" else "info",
            })
    for pod in pods:
        log = kube.read_pod_log(pod["metadata"]["name"], namespace, container=manifests.MAIN_CONTAINER, tail_lines=_log_lines())
        events.extend(event for event in map(parse_log_line, (log or "").splitlines()) if event)
    return events


def _status_events(job: BatchJob) -> list[dict]:
    return [
        {"timestamp": event.created_at.timestamp(),
         "message": f"status {event.new_status}" + (f": {event.reason}" if event.reason else ""),
         "level": "error" if event.new_status in ("FAILURE", "TIMEOUT") else "info"}
        for event in job.events.order_by("created_at", "id")  # the route reads oldest first
    ]


def fine_tune_events(job: BatchJob, kube: KubeClient | None = None) -> list[dict]:
    """Every event of the job, oldest first (events without a timestamp keep their place after
    the timestamped ones). A cluster that cannot be read adds one `warning` event saying so."""
    events = _status_events(job)
    if job.final_events is not None:
        events.extend(job.final_events)
    elif job.launched_at is not None and job.reaped_at is None:
        try:
            events.extend(cluster_events(job, kube or get_kube()))
        except InfraError as exc:
            events.append({"timestamp": None, "message": f"could not read the job's log: {exc}", "level": "warning"})
    timed = sorted((e for e in events if e["timestamp"] is not None), key=lambda e: e["timestamp"])
    return timed + [e for e in events if e["timestamp"] is None]
