"""Reading endpoints back from the cluster: workers and the real cause of failures.

`observe_endpoints` lists Deployments and Pods once per kind (by our managed-by label) and
returns, per endpoint id, the state the API shows and the status rules use."""
from llmengine_site.labels import ENDPOINT_ID, MANAGED_BY, MANAGED_BY_VALUE, SPEC_VERSION
from llmengine_site.infra.kube import KubeClient

IMAGE_PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
CRASH_REASONS = ("CrashLoopBackOff",)
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def _selector() -> dict:
    return {MANAGED_BY: MANAGED_BY_VALUE}


def _pod_summary(pod: dict) -> dict:
    status = pod.get("status") or {}
    waiting = next(
        (
            (container["name"], container["state"]["waiting"])
            for container in status.get("containerStatuses") or []
            if (container.get("state") or {}).get("waiting")
        ),
        (None, {}),
    )
    unscheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled" and c.get("status") == "False"),
        None,
    )
    ready = all(c.get("ready") for c in status.get("containerStatuses") or []) and bool(status.get("containerStatuses"))
    return {
        "name": pod["metadata"]["name"],
        "phase": status.get("phase", "Unknown"),
        "ready": ready,
        "container": waiting[0],
        "reason": waiting[1].get("reason") or (unscheduled or {}).get("reason"),
        "message": waiting[1].get("message") or (unscheduled or {}).get("message") or "",
    }


def failure_reason(pods: list[dict], image: str | None, read_log) -> str | None:
    """A sentence for a person when the pods cannot become ready, else None."""
    for pod in pods:
        reason, message = pod["reason"], pod["message"]
        if reason in IMAGE_PULL_REASONS:
            return f"image {image or '?'} cannot be pulled ({reason}): {message}".rstrip(": ")
        if reason == "Unschedulable":
            return f"pods cannot be scheduled: {message}" if message else "pods cannot be scheduled"
        if reason in CRASH_REASONS:
            last_line = (read_log(pod["name"], pod["container"]) or "").strip().splitlines()
            tail = f": {last_line[-1]}" if last_line else ""
            return f"container {pod['container']} is crash-looping{tail}"
        if reason in CONFIG_REASONS:
            return f"container {pod['container']} cannot start ({reason}): {message}".rstrip(": ")
    return None


def observe_endpoints(kube: KubeClient, namespace: str, *, deployments: list[dict] | None = None,
                      pods: list[dict] | None = None) -> dict[str, dict]:
    """State per endpoint id: replicas, available/unavailable workers, image, pods, failure.
    Deployments and Pods already listed (the cacher lists each kind once) are used as given."""
    if deployments is None:
        deployments = kube.list("apps/v1", "Deployment", namespace, _selector())
    if pods is None:
        pods = kube.list("v1", "Pod", namespace, _selector())
    pods_by_endpoint: dict[str, list[dict]] = {}
    for pod in pods:
        endpoint_label = (pod["metadata"].get("labels") or {}).get(ENDPOINT_ID)
        if endpoint_label:
            pods_by_endpoint.setdefault(endpoint_label, []).append(_pod_summary(pod))
    states = {}
    for deployment in deployments:
        labels = deployment["metadata"].get("labels") or {}
        endpoint_id = labels.get(ENDPOINT_ID)
        if not endpoint_id:
            continue
        status = deployment.get("status") or {}
        containers = deployment["spec"]["template"]["spec"]["containers"]
        image = next((c["image"] for c in containers if c["name"] == "main"), None)
        pods = pods_by_endpoint.get(endpoint_id, [])

        def read_log(pod_name, container, _namespace=namespace):
            return kube.read_pod_log(pod_name, _namespace, container=container, tail_lines=5)

        available = int(status.get("availableReplicas") or 0)
        replicas = int(status.get("replicas") or 0)
        states[endpoint_id] = {
            "replicas": replicas,
            "available_workers": available,
            "unavailable_workers": max(int(status.get("unavailableReplicas") or replicas - available), 0),
            "image": image,
            "pods": pods,
            "failure": failure_reason(pods, image, read_log),
            "spec_version": (deployment["metadata"].get("annotations") or {}).get(SPEC_VERSION),
        }
    return states
