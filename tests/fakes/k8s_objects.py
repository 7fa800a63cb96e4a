"""What the fake API server's objects look like: label/field selectors, merge patches and the
pods a Deployment's ReplicaSet would create (with the kubelet's wording for failure states).
Split from k8s_api.py to keep each file readable."""
import copy
import functools
import re
import uuid
from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -------------------------------------------------------------------- selectors
SET_TERM = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")


def split_selector(selector: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` is two terms."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current.strip())
    return terms


@functools.lru_cache(maxsize=256)
def label_selector_terms(selector: str) -> tuple[tuple[str, str, frozenset], ...]:
    """A label selector parsed once: (operator, key, values) per term; operator is one of
    `in`, `notin`, `!` (key absent), `=`, `!=` or `exists`."""
    terms = []
    for term in split_selector(selector):
        set_term = SET_TERM.match(term)
        if set_term:
            values = frozenset(value.strip() for value in set_term.group(3).split(",") if value.strip())
            terms.append((set_term.group(2), set_term.group(1), values))
        elif term.startswith("!"):
            terms.append(("!", term[1:].strip(), frozenset()))
        elif "=" in term:
            operator = "!=" if "!=" in term else "==" if "==" in term else "="
            key, value = (part.strip() for part in term.split(operator, 1))
            terms.append(("!=" if operator == "!=" else "=", key, frozenset((value,))))
        else:
            terms.append(("exists", term, frozenset()))
    return tuple(terms)


def matches_label_selector(labels: dict, selector: str | None) -> bool:
    """Label selector semantics of the real API (`!=` and `notin` match objects lacking the key)."""
    for operator, key, values in label_selector_terms(selector or ""):
        if operator == "in" and labels.get(key) not in values:
            return False
        if operator in ("notin", "!=") and labels.get(key) in values:
            return False
        if operator == "=" and labels.get(key) not in values:
            return False
        if (operator == "!" and key in labels) or (operator == "exists" and key not in labels):
            return False
    return True


def matches_field_selector(obj: dict, selector: str | None) -> bool:
    """Field selectors such as `involvedObject.name=x` or `status.phase!=Running`."""
    for term in split_selector(selector or ""):
        operator = "!=" if "!=" in term else "==" if "==" in term else "="
        path, expected = (part.strip() for part in term.split(operator, 1))
        value = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if (str(value if value is not None else "") == expected) == (operator == "!="):
            return False
    return True


# -------------------------------------------------------------------- pods made by a "ReplicaSet"
DEFAULT_UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def waiting_message_for(reason: str, image: str, pod_name: str, container: str) -> str:
    """The kubelet's wording for the common waiting reasons."""
    if reason == "ErrImagePull":
        return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                f'failed to resolve reference "{image}": {image}: not found')
    if reason == "ImagePullBackOff":
        return f'Back-off pulling image "{image}"'
    if reason == "CrashLoopBackOff":
        return f"back-off 5m0s restarting failed container={container} pod={pod_name}"
    return ""


def container_status(name: str, image: str, phase: str, waiting: dict | None) -> dict:
    running = phase == "Running" and waiting is None
    if waiting is not None:
        state = {"waiting": waiting}
    elif running:
        state = {"running": {"startedAt": now_iso()}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    status = {"name": name, "image": image, "imageID": "", "ready": running, "started": running,
              "restartCount": 0, "state": state, "lastState": {}}
    if waiting and waiting["reason"] == "CrashLoopBackOff":
        status["restartCount"] = 5
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                              "startedAt": now_iso(), "finishedAt": now_iso()}}
    return status


def condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> dict:
    found = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
             "lastTransitionTime": now_iso()}
    if reason:
        found["reason"] = reason
    if message:
        found["message"] = message
    return found


def build_pod(deployment: dict, phase: str, waiting_reason: str | None, waiting_message: str | None,
              scheduled: bool, unschedulable_message: str | None, container: str):
    """A pod of `deployment` in the requested state, plus the (reason, message) events it causes."""
    template = deployment["spec"].get("template") or {}
    selector = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
    template_hash = uuid.uuid4().hex[:10]
    name = f"{deployment['metadata']['name']}-{template_hash}-{uuid.uuid4().hex[:5]}"
    spec = copy.deepcopy(template.get("spec") or {"containers": [{"name": container, "image": "unknown"}]})
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": spec, "metadata": {
        "name": name,
        "labels": {**((template.get("metadata") or {}).get("labels") or {}), **selector,
                   "pod-template-hash": template_hash},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                             "name": f"{deployment['metadata']['name']}-{template_hash}"}]}}
    if not scheduled:
        message = unschedulable_message or DEFAULT_UNSCHEDULABLE
        pod["status"] = {"phase": "Pending", "qosClass": "Guaranteed",
                         "conditions": [condition("PodScheduled", False, "Unschedulable", message)]}
        return pod, [("FailedScheduling", message)]
    events, statuses = [], []
    for spec_container in spec.get("containers", []):
        image = spec_container.get("image", "")
        waiting = None
        if spec_container["name"] == container and waiting_reason:
            waiting = {"reason": waiting_reason,
                       "message": waiting_message or waiting_message_for(waiting_reason, image, name, container)}
            if waiting_reason in ("ErrImagePull", "ImagePullBackOff"):
                events.append(("Failed", f'Failed to pull image "{image}": {waiting["message"]}'))
            elif waiting_reason == "CrashLoopBackOff":
                events.append(("BackOff", f"Back-off restarting failed container {container} in pod {name}"))
        statuses.append(container_status(spec_container["name"], image, phase, waiting))
    unready = [status["name"] for status in statuses if not status["ready"]]
    message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
    reason = "ContainersNotReady" if unready else None
    pod["status"] = {
        "phase": phase, "qosClass": "Guaranteed", "hostIP": "10.0.0.10", "podIP": "10.1.0.10",
        "startTime": now_iso(), "containerStatuses": statuses,
        "conditions": [condition("PodScheduled", True), condition("Initialized", True),
                       condition("ContainersReady", not unready, reason, message),
                       condition("Ready", not unready, reason, message)],
    }
    return pod, events
