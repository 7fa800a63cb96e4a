"""Kubernetes adapter: plain-dict objects in and out over the classic client's HTTP layer.

Only this module talks to the Kubernetes API. Every call either returns or raises
`InfraError`: `transient=True` for 429, 5xx, timeouts and connection errors (the caller retries
with backoff), `transient=False` for everything retrying cannot fix, with the API's own message
("Deployment.apps "x" is invalid: ...").

Credentials: in-cluster service account first, else `KUBECONFIG` (or `~/.kube/config`), loaded
on first use and cached; `reset_kube_client()` forgets them (tests point KUBECONFIG elsewhere).
"""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from urllib.parse import quote

import orjson
import urllib3
from django.conf import settings
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from llmengine_site.errors import InfraError

FIELD_MANAGER = "llm-engine"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
# Metadata-only lists, with plain JSON as the fallback for servers that cannot convert.
METADATA_ONLY_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
NO_CLUSTER_MESSAGE = (
    "No Kubernetes cluster is configured: run inside a cluster or set KUBECONFIG to a "
    "kubeconfig file."
)

# kind -> (plural, namespaced) for the kinds we manage; anything else is looked up through
# discovery, so a new CRD kind works without touching this table.
KNOWN_KINDS = {
    "Deployment": ("deployments", True),
    "DaemonSet": ("daemonsets", True),
    "StatefulSet": ("statefulsets", True),
    "Service": ("services", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "Pod": ("pods", True),
    "Event": ("events", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "ServiceAccount": ("serviceaccounts", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "ScaledObject": ("scaledobjects", True),
    "TriggerAuthentication": ("triggerauthentications", True),
    "LeaderWorkerSet": ("leaderworkersets", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "PriorityClass": ("priorityclasses", False),
    "Namespace": ("namespaces", False),
    "Node": ("nodes", False),
}

_client_lock = threading.Lock()
_client: "KubeClient | None" = None


def get_kube() -> "KubeClient":
    """The process-wide client, configured on first use.

    Raises `InfraError(transient=False)` when no cluster is configured.
    """
    global _client
    with _client_lock:
        if _client is None:
            _client = KubeClient(_load_configuration())
        return _client


def reset_kube_client() -> None:
    """Forget the cached client and credentials; the next `get_kube()` reloads them."""
    global _client
    with _client_lock:
        _client = None


def _load_configuration() -> k8s_client.Configuration:
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
        return _tune(configuration)
    except k8s_config.ConfigException:
        pass  # not in a cluster: fall back to a kubeconfig file
    # The library reads KUBECONFIG once at import time; read it now so a changed value counts.
    config_file = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    paths = [path for path in config_file.split(os.pathsep) if path]
    if not any(os.path.exists(path) for path in paths):
        raise InfraError(NO_CLUSTER_MESSAGE, transient=False)
    try:
        k8s_config.load_kube_config(config_file=config_file, client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError) as error:
        raise InfraError(f"{NO_CLUSTER_MESSAGE} ({config_file}: {error})", transient=False) from error
    return _tune(configuration)


def _tune(configuration: k8s_client.Configuration) -> k8s_client.Configuration:
    # One quick retry for connection-level hiccups (stale pooled connections, a restarting API
    # server); status codes are never retried here: actors retry with backoff.
    configuration.retries = urllib3.Retry(total=2, connect=2, read=1, status=0, redirect=0,
                                          backoff_factor=0.2, raise_on_status=False)
    return configuration


def _timeout() -> tuple[float, float]:
    """(connect, read) seconds for each API call."""
    return (
        settings.LLME_K8S_CONNECT_TIMEOUT_SECONDS,
        settings.LLME_K8S_READ_TIMEOUT_SECONDS,
    )


def _api_prefix(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def _error_message(error: ApiException) -> str:
    """The API's own `Status.message` when there is one, else the HTTP reason."""
    try:
        body = json.loads(error.body or "")
        if isinstance(body, dict) and body.get("message"):
            return body["message"]
    except (TypeError, ValueError):
        pass
    text = (error.body or b"").decode() if isinstance(error.body, bytes) else (error.body or "")
    return text.strip() or str(error.reason or f"HTTP {error.status}")


def _translate(error: Exception, action: str) -> InfraError:
    """Map a client/transport error to `InfraError`, deciding whether a retry can help."""
    if isinstance(error, ApiException):
        status = error.status or None
        transient = status is None or status == 429 or status >= 500
        return InfraError(f"Kubernetes API {action} failed: {_error_message(error)}",
                          transient=transient, status=status)
    # urllib3 timeouts, refused/reset connections, protocol errors: the API may be back soon.
    return InfraError(f"Kubernetes API {action} failed: cannot reach the API server ({error})",
                      transient=True)


class KubeClient:
    """Stateless apart from the connection pool and a short-lived discovery cache; thread-safe."""

    def __init__(self, configuration: k8s_client.Configuration):
        self.api_client = k8s_client.ApiClient(configuration)
        self._discovery: dict[str, tuple[float, dict[str, tuple[str, bool]] | None]] = {}
        self._discovery_lock = threading.Lock()

    # ------------------------------------------------------------------ public interface
    def apply(self, obj: dict) -> dict:
        """Server-side apply `obj` (field manager `llm-engine`, conflicts forced); returns the
        stored object. Idempotent: re-applying the same object changes nothing. Creates the
        object when absent. Raises `InfraError`."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        name = obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        path = self._object_path(api_version, kind, name, namespace)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        try:
            return self._call("PATCH", path, f"apply {kind} {name}", query=query, body=obj,
                              content_type="application/apply-patch+yaml")
        except InfraError as error:
            if error.status == 404:
                raise InfraError(f"Kubernetes does not serve {kind} ({api_version}): is its "
                                 "CRD installed?", transient=False, status=404) from error
            raise

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist. Raises `InfraError`."""
        path = self._object_path(api_version, kind, name, namespace)
        try:
            obj = self._call("GET", path, f"get {kind} {name}")
        except InfraError as error:
            if error.status == 404:
                return None
            raise
        return obj

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | dict | None = None, field_selector: str | None = None,
             *, metadata_only: bool = False) -> list[dict]:
        """Objects of `kind` in `namespace` (default: the endpoint namespace) matching
        `label_selector` (a selector string or a dict of required labels) and `field_selector`
        (e.g. `involvedObject.name=<pod>` for Events). Each item carries `apiVersion` and
        `kind`. `metadata_only` asks the server for `PartialObjectMetadataList` (items hold
        only `metadata`): far less to send and parse when names, labels and annotations are
        enough. Raises `InfraError`."""
        path = self._collection_path(api_version, kind, namespace)
        query = []
        selector = _selector_string(label_selector)
        if selector:
            query.append(("labelSelector", selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        accept = METADATA_ONLY_ACCEPT if metadata_only else "application/json"
        result = self._call("GET", path, f"list {kind}", query=query, accept=accept)
        items = result.get("items") or []
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object and, in the background, what it owns (pods of a Deployment or Job).
        Returns False when it was already gone (404 counts as done). Raises `InfraError`."""
        path = self._object_path(api_version, kind, name, namespace)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self._call("DELETE", path, f"delete {kind} {name}", body=body)
        except InfraError as error:
            if error.status == 404:
                return False
            raise
        return True

    def has_api(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves `kind` in `api_version` (e.g. is the KEDA CRD installed).
        Answers are cached for `LLME_K8S_DISCOVERY_CACHE_SECONDS`. Raises `InfraError` only
        when the API server cannot be asked."""
        resources = self._resources(api_version)
        return resources is not None and kind in resources

    def forget_discovery(self) -> None:
        """Drop cached discovery answers (after installing a CRD, say)."""
        with self._discovery_lock:
            self._discovery.clear()

    def read_pod_log(self, name: str, namespace: str, container: str | None = None,
                     tail_lines: int = 20) -> str | None:
        """The last `tail_lines` lines of a container's log; None when the pod is gone or the
        container has not started (no log to read yet). Raises `InfraError` otherwise."""
        path = self._object_path("v1", "Pod", name, namespace) + "/log"
        query = [("tailLines", str(tail_lines))]
        if container:
            query.append(("container", container))
        try:
            return self._call("GET", path, f"read log of pod {name}", query=query, raw=True)
        except InfraError as error:
            if error.status in (400, 404):
                return None
            raise

    def restart_deployment(self, name: str, namespace: str) -> None:
        """Roll the Deployment's pods, as `kubectl rollout restart` does. Raises `InfraError`
        (status 404 when the Deployment does not exist)."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
        self.patch("apps/v1", "Deployment", name, namespace, patch)

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict) -> dict:
        """JSON merge patch (null deletes a key, lists are replaced); returns the stored object.
        Raises `InfraError` (status 404 when the object does not exist)."""
        path = self._object_path(api_version, kind, name, namespace)
        return self._call("PATCH", path, f"patch {kind} {name}", body=patch,
                          content_type="application/merge-patch+json")

    # ------------------------------------------------------------------ paths and discovery
    def _kind_info(self, api_version: str, kind: str) -> tuple[str, bool]:
        if kind in KNOWN_KINDS:
            return KNOWN_KINDS[kind]
        resources = self._resources(api_version)
        if resources is None or kind not in resources:
            raise InfraError(f"Kubernetes does not serve {kind} ({api_version}): is its CRD "
                             "installed?", transient=False, status=404)
        return resources[kind]

    def _collection_path(self, api_version: str, kind: str, namespace: str | None) -> str:
        plural, namespaced = self._kind_info(api_version, kind)
        if namespaced:
            namespace = namespace or settings.LLME_ENDPOINT_NAMESPACE
            return f"{_api_prefix(api_version)}/namespaces/{quote(namespace)}/{plural}"
        return f"{_api_prefix(api_version)}/{plural}"

    def _object_path(self, api_version: str, kind: str, name: str, namespace: str | None) -> str:
        return f"{self._collection_path(api_version, kind, namespace)}/{quote(name)}"

    def _resources(self, api_version: str) -> dict[str, tuple[str, bool]] | None:
        """kind -> (plural, namespaced) served under `api_version`; None when not served."""
        ttl = settings.LLME_K8S_DISCOVERY_CACHE_SECONDS
        with self._discovery_lock:
            cached = self._discovery.get(api_version)
            if cached and time.monotonic() - cached[0] < ttl:
                return cached[1]
        try:
            listing = self._call("GET", _api_prefix(api_version), f"discover {api_version}")
            resources = {entry["kind"]: (entry["name"], entry["namespaced"])
                         for entry in listing.get("resources", []) if "/" not in entry["name"]}
        except InfraError as error:
            if error.status != 404:
                raise
            resources = None
        with self._discovery_lock:
            self._discovery[api_version] = (time.monotonic(), resources)
        return resources

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, path: str, action: str, query: list | None = None,
              body=None, content_type: str = "application/json", raw: bool = False,
              accept: str = "application/json"):
        """One HTTP call; returns parsed JSON (or text when `raw`). Raises `InfraError`."""
        try:
            response = self.api_client.call_api(
                path, method, query_params=query or [], body=body,
                header_params={"Accept": accept, "Content-Type": content_type},
                auth_settings=["BearerToken"], _preload_content=False,
                _return_http_data_only=True, _request_timeout=_timeout())
            data = response.data
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise _translate(error, action) from error
        if raw:
            return data.decode("utf-8", errors="replace")
        # orjson: a steady cacher pass parses every Deployment and Pod of the namespace.
        return orjson.loads(data) if data else {}


def _selector_string(selector: str | dict | None) -> str:
    if isinstance(selector, dict):
        return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
    return selector or ""
