"""A small fake Kubernetes API server, spoken to over real HTTP by the real adapter.

What it does like the real API server (and what tests may rely on):
- discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`); CRD groups (KEDA, LWS)
  are served only after `install_crd()`, and an unserved group answers `404 page not found`;
- objects keyed by (group/version, plural, namespace, name) with `uid`, `resourceVersion`,
  `creationTimestamp`, and `generation` bumped only when `spec` changes;
- GET / LIST with label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and simple
  field selectors (`a.b=c`), answered as `PartialObjectMetadataList` (metadata only) when the
  Accept header asks for it; POST (409 AlreadyExists); PUT (409 on a stale resourceVersion);
  PATCH as server-side apply (creates when absent) or JSON merge patch (also used for
  strategic merge patch); DELETE (404 with a `Status` body; cascades to pods selected by a
  Deployment/DaemonSet/StatefulSet/Job, and to everything inside a deleted Namespace);
- `Status` error bodies shaped like the real ones; pod logs; bearer-token checks, and RBAC for
  service-account tokens (`issue_token`, tests/fakes/k8s_rbac.py);
- `/version`, and watches (`?watch=true`: a chunked stream of ADDED/MODIFIED/DELETED events after
  the given resourceVersion, as helm uses to wait for hook Jobs); optionally TLS
  (`FakeKubernetesServer(tls=(certfile, keyfile))`), as in-cluster clients require.

Simplifications (documented so nobody mistakes them for Kubernetes behaviour): server-side
apply merges the applied fields over the stored object (no managedFields, so a field dropped
from the applied config is kept); strategic merge patch is treated as JSON merge patch; watches
replay only the recent past (the last 5,000 events); no admission, no defaulting. Controllers do not run: tests move state with the control
methods (`mark_deployment_available`, `add_pod_for_deployment`, `set_status`, `add_event`).
"""
import copy
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

from tests.fakes import k8s_protobuf, k8s_rbac
from tests.fakes.k8s_objects import build_pod, matches_field_selector, matches_label_selector, merge_patch, now_iso

# group/version -> [(plural, kind, namespaced)]. Built-in APIs are always served.
BUILTIN_RESOURCES = {
    "v1": [
        ("pods", "Pod", True), ("services", "Service", True), ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True), ("events", "Event", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("namespaces", "Namespace", False), ("nodes", "Node", False),
    ],
    "apps/v1": [
        ("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True),
        ("statefulsets", "StatefulSet", True), ("replicasets", "ReplicaSet", True),
    ],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "autoscaling/v1": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True),
        ("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False),
    ],
}
# Groups that exist only when their CRDs are installed (see `install_crd`).
CRD_RESOURCES = {
    "keda.sh/v1alpha1": [
        ("scaledobjects", "ScaledObject", True), ("scaledjobs", "ScaledJob", True),
        ("triggerauthentications", "TriggerAuthentication", True),
        ("clustertriggerauthentications", "ClusterTriggerAuthentication", False),
    ],
    "leaderworkerset.x-k8s.io/v1": [("leaderworkersets", "LeaderWorkerSet", True)],
    "autoscaling.k8s.io/v1": [("verticalpodautoscalers", "VerticalPodAutoscaler", True)],
}
# Kinds whose pods go when they are deleted (the garbage collector's job in a real cluster).
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "LeaderWorkerSet"}

DROP = "drop"  # `fail_next(status=DROP)`: close the connection without answering
HANG = "hang"  # `fail_next(status=HANG)`: answer nothing for HANG_SECONDS (client timeouts)
HANG_SECONDS = 2.0


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A `Status` object as the API server returns it for failures."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    content_type: str
    body: object


@dataclass
class Failure:
    status: int | str
    times: int
    method: str | None
    path_contains: str | None
    message: str | None = None


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


def failure_body(failure: Failure) -> dict:
    reason = REASONS.get(failure.status, "Unknown")
    return status_body(failure.status, reason, failure.message or f"injected failure: {reason}")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.body = status_body(code, reason, message, details)
        self.code = code


@dataclass(frozen=True)
class Resource:
    group_version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0] if "/" in self.group_version else ""

    def qualified(self) -> str:
        """`deployments.apps` / `pods`: how the API names a resource in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def details(self, name: str) -> dict:
        return {"name": name, "group": self.group, "kind": self.plural}


class FakeKubernetesApi:
    """Object store plus control methods; `FakeKubernetesServer` puts HTTP in front of it."""

    def __init__(self, token: str | None = "fake-token"):
        self.token = token
        self.lock = threading.RLock()
        self.reset()

    # ---------------------------------------------------------------- control methods
    def reset(self, crds: tuple[str, ...] = ()) -> None:
        """Forget every object, log, request, failure and installed CRD (then install `crds`)."""
        with self.lock:
            self.store: dict[tuple[str, str, str, str], dict] = {}
            self.logs: dict[tuple[str, str, str], str] = {}
            self.installed: set[str] = set()
            self.failures: list[Failure] = []
            self.requests: list[RecordedRequest] = []
            self.service_account_tokens: dict[str, tuple[str, str]] = {}
            self.denials: list[str] = []  # Forbidden messages sent (RBAC), for assertions
            # (revision, type, group/version, plural, namespace, object): what watches replay.
            self.events: list[tuple[int, str, str, str, str, dict]] = []
            self.on_request = None  # a test's callable(RecordedRequest), run in the server thread
            self.revision = 1000
            for group_version in crds:
                self.install_crd(group_version)

    def issue_token(self, namespace: str, name: str) -> str:
        """A token of service account `namespace/name`: requests made with it are authorized by
        RBAC (tests/fakes/k8s_rbac.py), as a pod's mounted token is."""
        token = f"sa-{namespace}-{name}-{uuid.uuid4().hex[:12]}"
        self.service_account_tokens[token] = (namespace, name)
        return token

    def install_crd(self, group_version: str) -> None:
        """Serve a CRD group such as `keda.sh/v1alpha1` (as after `helm install keda`)."""
        if group_version not in CRD_RESOURCES:
            raise ValueError(f"unknown CRD group {group_version}; add it to CRD_RESOURCES")
        self.installed.add(group_version)

    def uninstall_crd(self, group_version: str) -> None:
        self.installed.discard(group_version)

    def fail_next(self, status: int | str = 500, times: int = 1, method: str | None = None,
                  path_contains: str | None = None, message: str | None = None) -> None:
        """Make the next `times` matching requests fail with `status` and a `Status` body
        carrying `message` (or close the connection unanswered with `status=DROP`, or after
        `HANG_SECONDS` with `status=HANG`)."""
        with self.lock:
            self.failures.append(Failure(status, times, method and method.upper(), path_contains, message))

    def objects(self, kind: str | None = None, namespace: str | None = None,
                label_selector: str | None = None) -> list[dict]:
        """Stored objects (copies, with apiVersion and kind), for assertions."""
        with self.lock:
            found = [copy.deepcopy(obj) for (gv, plural, ns, name), obj in sorted(self.store.items())
                     if (kind is None or obj["kind"] == kind)
                     and (namespace is None or ns == namespace)
                     and matches_label_selector(obj["metadata"].get("labels") or {}, label_selector)]
        return found

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict | None:
        """A copy of the named object (any group/version serving `kind`), or None."""
        if namespace is None:
            matches = [o for o in self.objects(kind, namespace) if o["metadata"]["name"] == name]
            return matches[0] if matches else None
        with self.lock:  # by key, not by copying every object of the kind (setups of 1,000 endpoints)
            for group_version, resources in sorted({**BUILTIN_RESOURCES, **CRD_RESOURCES}.items()):
                for plural, known_kind, _ in sorted(resources):
                    found = self.store.get((group_version, plural, namespace, name))
                    if known_kind == kind and found is not None:
                        return copy.deepcopy(found)
        return None

    def set_status(self, api_version: str, kind: str, namespace: str | None, name: str,
                   status: dict) -> dict:
        """Replace an object's `status`, as its controller would."""
        resource = self.resource_for_kind(api_version, kind)
        with self.lock:
            obj = self._require(resource, namespace or "", name)
            obj["status"] = copy.deepcopy(status)
            self._bump(obj)
            self._record("MODIFIED", resource, obj)
            return copy.deepcopy(obj)

    def mark_deployment_available(self, namespace: str, name: str, replicas: int | None = None) -> dict:
        """Report a finished rollout: all replicas ready, available and up to date."""
        deployment = self.get_object("Deployment", namespace, name)
        if deployment is None:
            raise KeyError(f"no Deployment {namespace}/{name}")
        if replicas is None:
            replicas = deployment["spec"].get("replicas", 1)
        condition = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability.",
                     "lastUpdateTime": now_iso(), "lastTransitionTime": now_iso()}
        status = {"observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
                  "readyReplicas": replicas, "availableReplicas": replicas,
                  "updatedReplicas": replicas, "conditions": [condition]}
        return self.set_status("apps/v1", "Deployment", namespace, name, status)

    def add_event(self, namespace: str, involved_kind: str, involved_name: str, reason: str,
                  message: str, type: str = "Warning") -> dict:
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{involved_name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {"kind": involved_kind, "name": involved_name, "namespace": namespace},
            "reason": reason, "message": message, "type": type, "count": 1,
            "firstTimestamp": now_iso(), "lastTimestamp": now_iso(),
        }
        with self.lock:
            return copy.deepcopy(self._create(self.resource_for_kind("v1", "Event"), namespace, event))

    def add_pod_for_deployment(self, namespace: str, deployment_name: str, phase: str = "Pending",
                               waiting_reason: str | None = None, waiting_message: str | None = None,
                               scheduled: bool = True, unschedulable_message: str | None = None,
                               log: str | None = None, container: str = "main") -> dict:
        """Create a pod the Deployment's ReplicaSet would have made, in the given state.

        `scheduled=False` gives `PodScheduled=False reason=Unschedulable` (and a FailedScheduling
        event); `waiting_reason` (ImagePullBackOff, ErrImagePull, CrashLoopBackOff, ...) puts
        `container` in that waiting state; `log` becomes that container's log.
        """
        deployment = self.get_object("Deployment", namespace, deployment_name)
        if deployment is None:
            raise KeyError(f"no Deployment {namespace}/{deployment_name}")
        pod, events = build_pod(deployment, phase, waiting_reason, waiting_message, scheduled,
                                unschedulable_message, container)
        with self.lock:
            stored = self._create(self.resource_for_kind("v1", "Pod"), namespace, pod)
            if log is not None:
                self.logs[(namespace, stored["metadata"]["name"], container)] = log
        for reason, message in events:
            self.add_event(namespace, "Pod", stored["metadata"]["name"], reason, message)
        return copy.deepcopy(stored)

    def set_pod_log(self, namespace: str, pod_name: str, log: str, container: str = "main") -> None:
        self.logs[(namespace, pod_name, container)] = log

    # ---------------------------------------------------------------- resources
    def served(self) -> dict[str, list[tuple[str, str, bool]]]:
        served = dict(BUILTIN_RESOURCES)
        served.update({gv: CRD_RESOURCES[gv] for gv in sorted(self.installed)})
        return served

    def resource(self, group_version: str, plural: str) -> Resource | None:
        for name, kind, namespaced in self.served().get(group_version, []):
            if name == plural:
                return Resource(group_version, plural, kind, namespaced)
        return None

    def resource_for_kind(self, group_version: str, kind: str) -> Resource:
        for plural, known_kind, namespaced in self.served().get(group_version, []):
            if known_kind == kind:
                return Resource(group_version, plural, kind, namespaced)
        raise KeyError(f"{kind} is not served in {group_version}")

    # ---------------------------------------------------------------- verbs (called by the handler)
    def get(self, resource: Resource, namespace: str, name: str) -> dict:
        return copy.deepcopy(self._require(resource, namespace, name))

    def list(self, resource: Resource, namespace: str | None, label_selector: str | None,
             field_selector: str | None) -> dict:
        """The matching objects, in key order. Items share their contents with the store: the
        caller encodes them while still holding `lock` (the handler does), or copies them."""
        of_resource = sorted((key, obj) for key, obj in self.store.items()
                             if key[0] == resource.group_version and key[1] == resource.plural
                             and (not namespace or key[2] == namespace))
        items = []
        for _, obj in of_resource:
            if not matches_label_selector(obj["metadata"].get("labels") or {}, label_selector):
                continue
            if not matches_field_selector(obj, field_selector):
                continue
            # Like the real server, list items of built-in kinds carry no apiVersion/kind.
            items.append({key: value for key, value in obj.items() if key not in ("apiVersion", "kind")})
        return {"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                "metadata": {"resourceVersion": str(self.revision)}, "items": items}

    def create(self, resource: Resource, namespace: str, body: dict) -> dict:
        return copy.deepcopy(self._create(resource, namespace, body))

    def replace(self, resource: Resource, namespace: str, name: str, body: dict) -> dict:
        stored = self._require(resource, namespace, name)
        sent_version = (body.get("metadata") or {}).get("resourceVersion")
        if sent_version and sent_version != stored["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified()} '
                           f'"{name}": the object has been modified; please apply your changes '
                           "to the latest version and try again", resource.details(name))
        updated = copy.deepcopy(body)
        updated["metadata"] = {**updated.get("metadata", {}), **self._identity(stored)}
        updated["status"] = stored.get("status", {})
        return copy.deepcopy(self._store_update(resource, namespace, name, stored, updated))

    def patch(self, resource: Resource, namespace: str, name: str, body, content_type: str,
              query: dict) -> dict:
        stored = self.store.get(self._key(resource, namespace, name))
        if content_type == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                raise ApiError(400, "BadRequest", 'PatchOptions.meta.k8s.io "" is invalid: '
                               "fieldManager: Required value: is required for apply patch")
            if stored is None:
                return self.create(resource, namespace, {**body, "metadata": {**body.get("metadata", {}), "name": name}})
        elif content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type})")
        if stored is None:
            raise self._not_found(resource, name)
        patch = {key: value for key, value in body.items() if key != "status"}
        updated = merge_patch(stored, patch)
        updated["metadata"] = {**updated.get("metadata", {}), **self._identity(stored)}
        return copy.deepcopy(self._store_update(resource, namespace, name, stored, updated))

    def delete(self, resource: Resource, namespace: str, name: str, body: dict | None) -> dict:
        stored = self._require(resource, namespace, name)
        self._remove(self._key(resource, namespace, name))
        if (body or {}).get("propagationPolicy") != "Orphan":
            self._delete_dependents(stored, namespace)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {**resource.details(name), "uid": stored["metadata"]["uid"]}}

    def pod_log(self, namespace: str, name: str, container: str | None, tail_lines: int | None) -> str:
        pod = self._require(self.resource_for_kind("v1", "Pod"), namespace, name)
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        if container is None:
            if len(names) > 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, "
                               f"choose one of: [{' '.join(names)}]")
            container = names[0] if names else "main"
        elif container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        log = self.logs.get((namespace, name, container))
        if log is None:
            for status in pod.get("status", {}).get("containerStatuses", []):
                waiting = status.get("state", {}).get("waiting")
                if status["name"] == container and waiting:
                    raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is '
                                   f"waiting to start: {waiting.get('reason', 'ContainerCreating')}")
            log = ""
        lines = log.splitlines(keepends=True)
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return "".join(lines)

    # ---------------------------------------------------------------- internals
    @staticmethod
    def _key(resource: Resource, namespace: str, name: str):
        return (resource.group_version, resource.plural, namespace if resource.namespaced else "", name)

    def _not_found(self, resource: Resource, name: str) -> ApiError:
        return ApiError(404, "NotFound", f'{resource.qualified()} "{name}" not found', resource.details(name))

    def _require(self, resource: Resource, namespace: str, name: str) -> dict:
        stored = self.store.get(self._key(resource, namespace, name))
        if stored is None:
            raise self._not_found(resource, name)
        return stored

    @staticmethod
    def _identity(stored: dict) -> dict:
        keys = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation")
        return {key: stored["metadata"][key] for key in keys if key in stored["metadata"]}

    def _bump(self, obj: dict) -> None:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)

    def _create(self, resource: Resource, namespace: str, body: dict) -> dict:
        obj = copy.deepcopy(body)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        name = metadata.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{resource.kind} \"\" is invalid: metadata.name: Required value: name or generateName is required")
        key = self._key(resource, namespace, name)
        if key in self.store:
            raise ApiError(409, "AlreadyExists", f'{resource.qualified()} "{name}" already exists',
                           resource.details(name))
        if resource.namespaced:
            metadata["namespace"] = namespace
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
        obj["apiVersion"], obj["kind"] = resource.group_version, resource.kind
        self._bump(obj)
        self.store[key] = obj
        self._record("ADDED", resource, obj)
        return obj

    def _store_update(self, resource, namespace, name, stored, updated) -> dict:
        updated["apiVersion"], updated["kind"] = resource.group_version, resource.kind
        if updated == stored:
            return stored  # a no-op write keeps resourceVersion, as the real server does
        if updated.get("spec") != stored.get("spec"):
            updated["metadata"]["generation"] = stored["metadata"].get("generation", 1) + 1
        self._bump(updated)
        self.store[self._key(resource, namespace, name)] = updated
        self._record("MODIFIED", resource, updated)
        return updated

    def _record(self, event_type: str, resource: Resource, obj: dict) -> None:
        namespace = obj["metadata"].get("namespace", "") if resource.namespaced else ""
        self.events.append((self.revision, event_type, resource.group_version, resource.plural,
                            namespace, copy.deepcopy(obj)))
        del self.events[:-5000]  # watches only need the recent past

    def _remove(self, key) -> None:
        obj = self.store.pop(key)
        self.revision += 1
        self.events.append((self.revision, "DELETED", key[0], key[1], key[2], copy.deepcopy(obj)))

    def watch_events(self, resource: Resource, namespace: str | None, since: int,
                     label_selector: str | None, field_selector: str | None) -> "list[tuple[int, str, dict]]":
        """Events after revision `since` that a watch with these selectors would see."""
        found = []
        for revision, event_type, gv, plural, ns, obj in self.events:
            if revision <= since or (gv, plural) != (resource.group_version, resource.plural):
                continue
            if namespace and ns != namespace:
                continue
            if not matches_label_selector(obj["metadata"].get("labels") or {}, label_selector):
                continue
            if not matches_field_selector(obj, field_selector):
                continue
            found.append((revision, event_type, copy.deepcopy(obj)))
        return found

    def _delete_dependents(self, owner: dict, namespace: str) -> None:
        kind = owner["kind"]
        if kind == "Namespace":
            for key in [k for k in self.store if k[2] == owner["metadata"]["name"]]:
                self._remove(key)
            return
        if kind in WORKLOAD_KINDS:
            selector = (owner.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        elif kind == "Job":
            selector = {"job-name": owner["metadata"]["name"]}
        else:
            return
        if not selector:
            return
        for key, obj in list(self.store.items()):
            labels = obj["metadata"].get("labels") or {}
            if key[:3] == ("v1", "pods", namespace) and all(labels.get(k) == v for k, v in selector.items()):
                self._remove(key)


# -------------------------------------------------------------------- routing
NOT_FOUND_PAGE = "404 page not found"  # what the real server answers for an unserved group
SERVER_VERSION = {"major": "1", "minor": "29", "gitVersion": "v1.29.0", "platform": "linux/amd64"}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def encoded(payload) -> tuple[bytes, str]:
    """(body, content type) of an answer: text as it is, anything else as compact JSON, as the
    real server writes it (orjson: a list of 1,000 Deployments costs no more than the store)."""
    if isinstance(payload, str):
        return payload.encode(), "text/plain"
    try:
        return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), "application/json"
    except TypeError:  # what orjson cannot encode (an integer beyond 64 bits), the standard encoder can
        return json.dumps(payload, separators=(",", ":")).encode(), "application/json"


def partial_metadata_list(payload):
    """A list answered as `PartialObjectMetadataList`, as the real server does for
    `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`."""
    if not isinstance(payload, dict) or "items" not in payload:
        return payload
    return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": payload.get("metadata", {}),
            "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]}
                      for item in payload["items"]]}


def resource_list(group_version: str, resources) -> dict:
    entries = []
    for plural, kind, namespaced in resources:
        entries.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                        "kind": kind, "verbs": VERBS})
        entries.append({"name": f"{plural}/status", "singularName": "", "namespaced": namespaced,
                        "kind": kind, "verbs": ["get", "patch", "update"]})
        if plural == "pods":
            entries.append({"name": "pods/log", "singularName": "", "namespaced": True,
                            "kind": "Pod", "verbs": ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": entries}


def group_list(api: "FakeKubernetesApi") -> dict:
    groups: dict[str, list[str]] = {}
    for group_version in api.served():
        if "/" in group_version:
            group, version = group_version.split("/")
            groups.setdefault(group, []).append(version)
    listed = []
    for group, versions in groups.items():
        entries = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
        listed.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}


def route(api: "FakeKubernetesApi", method: str, path: str, query: dict, body, content_type: str):
    """Dispatch one request to the store; returns (HTTP status, JSON body or plain text)."""
    parts = [part for part in path.split("/") if part]
    if parts == ["version"]:
        return 200, SERVER_VERSION
    if parts[:2] == ["openapi", "v3"]:
        return openapi_v3(api, "/".join(parts[2:]))
    if parts == ["api"]:
        return 200, {"kind": "APIVersions", "versions": ["v1"]}
    if parts == ["apis"]:
        return 200, group_list(api)
    if len(parts) >= 2 and parts[0] == "api":
        group_version, rest = parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return 404, NOT_FOUND_PAGE
    served = api.served()
    if group_version not in served:
        return 404, NOT_FOUND_PAGE
    if not rest:
        return 200, resource_list(group_version, served[group_version])
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural, name = rest[0], rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    resource = api.resource(group_version, plural)
    if resource is None or (resource.namespaced and name is not None and namespace is None):
        return 404, status_body(404, "NotFound", "the server could not find the requested resource")
    if not resource.namespaced:
        namespace = ""
    if name is None:
        if method == "GET":
            return 200, api.list(resource, namespace, query.get("labelSelector"), query.get("fieldSelector"))
        if method == "POST" and namespace is not None:
            return 201, api.create(resource, namespace, body or {})
        return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if subresource == "log" and plural == "pods":
        tail = int(query["tailLines"]) if "tailLines" in query else None
        return 200, api.pod_log(namespace, name, query.get("container"), tail)
    if subresource == "status":
        return route_status(api, resource, method, namespace, name, body)
    if method == "GET":
        return 200, api.get(resource, namespace, name)
    if method == "PUT":
        return 200, api.replace(resource, namespace, name, body or {})
    if method == "PATCH":
        existed = api._key(resource, namespace, name) in api.store
        patched = api.patch(resource, namespace, name, body or {}, content_type, query)
        return (200 if existed else 201), patched
    if method == "DELETE":
        return 200, api.delete(resource, namespace, name, body)
    return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def watched_collection(api: "FakeKubernetesApi", path: str):
    """(resource, namespace or None) of a collection path such as
    `/apis/batch/v1/namespaces/x/jobs`, or None when it names no served collection."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group_version, rest = parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) == 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) != 1:
        return None
    resource = api.resource(group_version, rest[0])
    return (resource, namespace) if resource else None


def openapi_v3(api: "FakeKubernetesApi", group_path: str):
    """OpenAPI v3 discovery, reduced to what clients read from it: which kinds accept the
    `fieldValidation` parameter (all of them here, so kubectl and helm leave validation to the
    server instead of downloading schemas). No object schemas are served."""
    served = api.served()
    paths = {("api/" if "/" not in gv else "apis/") + gv: gv for gv in served}
    if not group_path:
        return 200, {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash=fake"} for path in paths}}
    group_version = paths.get(group_path)
    if group_version is None:
        return 404, NOT_FOUND_PAGE
    group, _, version = group_version.rpartition("/")
    document = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
                "paths": {}}
    for plural, kind, namespaced in served[group_version]:
        scope = "namespaces/{namespace}/" if namespaced else ""
        operation = {"x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                     "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                     "responses": {}}
        document["paths"][f"/{group_path}/{scope}{plural}"] = {"post": operation}
        document["paths"][f"/{group_path}/{scope}{plural}/{{name}}"] = {"put": operation, "patch": operation}
    return 200, document


def route_status(api, resource, method, namespace, name, body):
    """The `/status` subresource: only `status` changes through it."""
    stored = api.get(resource, namespace, name)
    if method == "GET":
        return 200, stored
    new_status = (body or {}).get("status", {})
    if method == "PATCH":
        new_status = merge_patch(stored.get("status", {}), new_status)
    return 200, api.set_status(resource.group_version, resource.kind, namespace or None, name, new_status)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as the real API server has: without it the headers and the body go out as two
    # small writes and Nagle + delayed ACK hold the body ~40 ms, so every call looked slow.
    disable_nagle_algorithm = True
    server: "FakeKubernetesServer"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = None
        if raw and content_type == "application/vnd.kubernetes.protobuf":
            try:
                body = k8s_protobuf.decode(raw)
            except (ValueError, IndexError) as error:
                self._send(415, status_body(415, "UnsupportedMediaType", str(error)))
                return
        elif raw:
            body = yaml.safe_load(raw) if content_type.endswith("yaml") else json.loads(raw)
        with api.lock:
            api.requests.append(RecordedRequest(method, url.path, query, content_type, body))
            failure = self._take_failure(api, method, url.path)
        if api.on_request is not None:
            api.on_request(api.requests[-1])
        if failure is not None and failure.status == HANG:
            time.sleep(HANG_SECONDS)
        if failure is not None and failure.status in (DROP, HANG):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if failure is not None:
            self._send(failure.status, failure_body(failure))
            return
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        # The scheme is case-insensitive (the Python client's in-cluster config sends "bearer").
        account = api.service_account_tokens.get(credential) if scheme.lower() == "bearer" else None
        if api.token and account is None and (scheme.lower() != "bearer" or credential != api.token):
            self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        attributes = k8s_rbac.request_attributes(method, url.path, query)
        if account is not None and attributes is not None:
            with api.lock:
                denied = k8s_rbac.authorize(api, account, attributes)
            if denied:
                api.denials.append(denied)
                self._send(403, status_body(403, "Forbidden", denied, {
                    "name": attributes["name"], "group": attributes["group"],
                    "kind": attributes["resource"].split("/")[0]}))
                return
        if method == "GET" and query.get("watch") in ("true", "1"):
            self._watch(api, url.path, query)
            return
        metadata_only = method == "GET" and "as=PartialObjectMetadataList" in (self.headers.get("Accept") or "")
        with api.lock:  # encoded under the lock: list items share their contents with the store
            try:
                code, payload = route(api, method, url.path, query, body, content_type)
            except ApiError as error:
                code, payload = error.code, error.body
            if code == 200 and metadata_only:
                payload = partial_metadata_list(payload)
            data, content_type = encoded(payload)
        self._send(code, data, content_type)

    def _watch(self, api: FakeKubernetesApi, path: str, query: dict) -> None:
        """A watch: events after `resourceVersion` (all current objects first when it is absent
        or "0"), as chunked JSON lines, until `timeoutSeconds` or the client goes away."""
        target = watched_collection(api, path)
        if target is None:
            self._send(404, status_body(404, "NotFound", "the server could not find the requested resource"))
            return
        resource, namespace = target
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 300), 300)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pending: list[tuple[str, dict]] = []
        with api.lock:
            since = int(query.get("resourceVersion") or 0)
            if since == 0:
                listed = copy.deepcopy(api.list(resource, namespace, labels, fields)["items"])
                pending = [("ADDED", {**obj, "apiVersion": resource.group_version, "kind": resource.kind})
                           for obj in listed]
                since = api.revision
        try:
            while time.monotonic() < deadline:
                with api.lock:
                    events = api.watch_events(resource, namespace, since, labels, fields)
                for revision, event_type, obj in events:
                    pending.append((event_type, obj))
                    since = revision
                for event_type, obj in pending:
                    data = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                pending = []
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    @staticmethod
    def _take_failure(api: FakeKubernetesApi, method: str, path: str):
        for failure in api.failures:
            if failure.method not in (None, method):
                continue
            if failure.path_contains and failure.path_contains not in path:
                continue
            failure.times -= 1
            if failure.times <= 0:
                api.failures.remove(failure)
            return failure
        return None

    def _send(self, code: int, payload, content_type: str | None = None) -> None:
        """Answer `payload` (encoded here unless it is bytes already with its `content_type`)."""
        data, content_type = (payload, content_type) if isinstance(payload, bytes) else encoded(payload)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if code == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)


class FakeKubernetesServer(ThreadingHTTPServer):
    """`FakeKubernetesApi` served on 127.0.0.1:<free port> from a background thread."""

    daemon_threads = True

    def __init__(self, api: FakeKubernetesApi | None = None, tls: tuple[str, str] | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.api = api or FakeKubernetesApi()
        self.tls = tls
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            # The handshake happens in the request's thread, so a slow client blocks nobody.
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.serve_forever, name="fake-k8s-api", daemon=True)

    def finish_request(self, request, client_address):
        if self.tls:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeKubernetesServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
