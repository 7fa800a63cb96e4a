"""A small kubelet (and the controllers around it) for the fake API server: it runs the pods of
Deployments and Jobs as native processes, so a chart installed on the fake cluster really runs.

What it does as Kubernetes would (and what tests may rely on):
- one network namespace per pod (see tests/fakes/netns.py), shared by the pod's containers;
  the pod reaches the host's services through relays on its own loopback (`host_ports`), the
  API server at https://127.0.0.1:443 (KUBERNETES_SERVICE_HOST/PORT), and every Service by its
  DNS names (`<svc>.<ns>.svc.cluster.local`, written to the pod's /etc/hosts, as cluster DNS
  would answer) through relays to a ready backend pod (kube-proxy);
- one mount namespace and root per container: the host's /usr and /etc, the Python install and
  the repository (also at /app, the image's WORKDIR) bound read-only, empty /opt, /run, /tmp and
  /var; the pod's volumes (emptyDir, configMap, secret, projected service-account token) mounted
  where the spec says; the service-account token, CA and namespace at
  /var/run/secrets/kubernetes.io/serviceaccount unless automounting is off; EKS's pod identity
  webhook (a web-identity token and AWS_ROLE_ARN) for service accounts with an
  `eks.amazonaws.com/role-arn` annotation; read-only root when the container asks for it;
- the environment: the image's ENV, env (value, $(VAR) references, secretKeyRef,
  configMapKeyRef, fieldRef), envFrom, HOSTNAME and KUBERNETES_SERVICE_*; a missing Secret or key
  keeps the container waiting with CreateContainerConfigError;
- the user of the pod or container securityContext (else the image's USER);
- the pod's token belongs to its service account, so the fake API server applies the chart's RBAC;
- readiness from the probe (httpGet, tcpSocket, exec) run inside the pod; Deployment status
  (ready/available replicas, Available condition) and Job status (succeeded/failed, Complete
  or Failed after backoffLimit) written back; Pod objects with container statuses and restarts;
- containers of Deployment pods are restarted when they exit; a changed pod template replaces
  the pods; a deleted Deployment or Job takes its pods.

Nodes are given (labels, taints): a pod runs only when it fits one (tests/fakes/k8s_scheduling.py),
else it stays Pending with PodScheduled=False/Unschedulable and a FailedScheduling event, as the
scheduler leaves it; a DaemonSet runs one pod per node its pods fit. Resources are not counted.

Images are not pulled: `images` maps an image to how it runs here, either `OUR_IMAGE` (the
project's own image: its command runs natively in the project's venv with the Dockerfile's ENV,
WORKDIR, USER and CMD) or an argv that stands for the image (a fake model server). Any other
image stays in ErrImagePull.
"""
import copy
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.k8s_api import ApiError, FakeKubernetesApi
from tests.fakes.k8s_objects import now_iso
from tests.fakes.kubelet_containers import (  # noqa: F401 (OUR_IMAGE is for the tests)
    API_PORT_IN_POD, OUR_IMAGE, ROOT, ContainerConfigError, ContainerSetup, ImageNotRunnable,
    dockerfile_config, resolve_port_in, stop_process,
)
from tests.fakes.k8s_scheduling import schedule, unfit_reason
from tests.fakes.netns import NetworkNamespace, Relay, host_connect

@dataclass
class Container:
    name: str
    spec: dict
    log_path: Path
    process: subprocess.Popen | None = None
    ready: bool = False
    restarts: int = 0
    exit_code: int | None = None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    next_start: float = 0.0
    next_probe: float = 0.0


@dataclass
class Pod:
    name: str
    namespace: str
    owner: tuple[str, str, str]  # (kind, namespace, name)
    template_hash: str
    spec: dict
    labels: dict
    uid: str
    directory: Path
    netns: NetworkNamespace | None  # None while unscheduled
    containers: list[Container]
    node: str | None = None
    relays: dict = field(default_factory=dict)
    phase: str = "Pending"
    stopped: bool = False
    counted: bool = False  # a finished Job pod already counted in the Job's status
    token: str | None = None

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and all(c.ready for c in self.containers)


class Kubelet(ContainerSetup):
    def __init__(self, api: FakeKubernetesApi, *, api_port: int, ca_cert: Path, workdir: Path,
                 images: dict, nodes: list[dict], host_ports: dict[int, int] | None = None,
                 host_aliases: dict[str, str] | None = None, python: str = sys.executable):
        self.api = api
        self.api_port = api_port
        self.ca_cert = Path(ca_cert).read_text()
        self.workdir = Path(workdir)
        self.images = images
        self.host_ports = dict(host_ports or {})
        self.host_aliases = dict(host_aliases or {})
        self.venv_bin = str(Path(python).parent)
        self.python = python
        self.image_config = dockerfile_config()
        self.nodes = nodes
        self.pods: dict[str, Pod] = {}
        self.services: dict[tuple[str, str], str] = {}  # (namespace, name) -> address
        self.service_index = 0
        self.lock = threading.RLock()
        self.running = False
        self.thread: threading.Thread | None = None
        self.errors: list[str] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Kubelet":
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="fake-kubelet", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.running = False
        if self.thread:
            self.thread.join(timeout=30)
        with self.lock:
            for pod in list(self.pods.values()):
                self._stop_pod(pod, grace=5)

    def _loop(self) -> None:
        while self.running:
            try:
                self.sync()
            except Exception as error:  # keep the node alive; the test reads `errors`
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.3)

    def sync(self) -> None:
        with self.lock:
            self._sync_services()
            self._sync_deployments()
            self._sync_daemonsets()
            self._sync_jobs()
            for pod in list(self.pods.values()):
                self._run_containers(pod)
                self._report_pod(pod)

    # ------------------------------------------------------------------ queries for tests
    def pods_of(self, namespace: str, label_selector: dict) -> list[Pod]:
        with self.lock:
            return [pod for pod in self.pods.values() if pod.namespace == namespace
                    and all(pod.labels.get(k) == v for k, v in label_selector.items())]

    def logs(self) -> str:
        """Every container's log, for a failing test's report."""
        parts = []
        with self.lock:
            for pod in self.pods.values():
                for container in pod.containers:
                    text = container.log_path.read_text(errors="replace") if container.log_path.exists() else ""
                    parts.append(f"----- {pod.namespace}/{pod.name} [{container.name}] "
                                 f"restarts={container.restarts} ready={container.ready}\n{text[-6000:]}")
        return "\n".join(parts + [f"kubelet error: {e}" for e in self.errors[-20:]])

    # ------------------------------------------------------------------ controllers
    def _sync_deployments(self) -> None:
        deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in self.api.objects("Deployment")}
        for pod in list(self.pods.values()):
            kind, namespace, name = pod.owner
            if kind == "Deployment":
                deployment = deployments.get((namespace, name))
                if deployment is None or template_hash(deployment) != pod.template_hash:
                    self._stop_pod(pod)
        for (namespace, name), deployment in deployments.items():
            wanted = deployment["spec"].get("replicas", 1)
            current = [p for p in self.pods.values() if p.owner == ("Deployment", namespace, name)]
            for pod in current[wanted:]:
                self._stop_pod(pod)
            for _ in range(wanted - len(current)):
                self._start_pod(deployment, ("Deployment", namespace, name), template_hash(deployment))
            current = [p for p in self.pods.values() if p.owner == ("Deployment", namespace, name)]
            ready = sum(1 for pod in current if pod.ready)
            available = ready >= min(wanted, 1) if wanted else True
            status = {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": len(current), "updatedReplicas": len(current),
                "readyReplicas": ready, "availableReplicas": ready,
                "unavailableReplicas": max(len(current) - ready, 0),
                "conditions": [{"type": "Available", "status": "True" if available else "False",
                                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"}],
            }
            self._set_status_if_changed("apps/v1", deployment, status)

    def _sync_daemonsets(self) -> None:
        """One pod per node the DaemonSet's pods fit (none on a node they do not tolerate)."""
        daemonsets = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in self.api.objects("DaemonSet")}
        for pod in list(self.pods.values()):
            kind, namespace, name = pod.owner
            if kind == "DaemonSet":
                daemonset = daemonsets.get((namespace, name))
                if daemonset is None or template_hash(daemonset) != pod.template_hash:
                    self._stop_pod(pod)
        for (namespace, name), daemonset in daemonsets.items():
            spec = daemonset["spec"]["template"]["spec"]
            fitting = [node for node in self.nodes if unfit_reason(spec, node) is None]
            current = {p.node: p for p in self.pods.values() if p.owner == ("DaemonSet", namespace, name)}
            for node in fitting:
                if node["name"] not in current:
                    self._start_pod(daemonset, ("DaemonSet", namespace, name), template_hash(daemonset), node)
            pods = [p for p in self.pods.values() if p.owner == ("DaemonSet", namespace, name)]
            ready = sum(1 for pod in pods if pod.ready)
            status = {"observedGeneration": daemonset["metadata"].get("generation", 1),
                      "desiredNumberScheduled": len(fitting), "currentNumberScheduled": len(pods),
                      "updatedNumberScheduled": len(pods), "numberReady": ready, "numberAvailable": ready,
                      "numberMisscheduled": 0, "numberUnavailable": max(len(fitting) - ready, 0)}
            self._set_status_if_changed("apps/v1", daemonset, status)

    def _sync_jobs(self) -> None:
        jobs = {(j["metadata"]["namespace"], j["metadata"]["name"]): j for j in self.api.objects("Job")}
        for pod in list(self.pods.values()):
            kind, namespace, name = pod.owner
            if kind == "Job" and (namespace, name) not in jobs:
                self._stop_pod(pod)
        for (namespace, name), job in jobs.items():
            status = copy.deepcopy(job.get("status") or {})
            if any(c.get("status") == "True" for c in status.get("conditions", [])):
                continue
            pods = [p for p in self.pods.values() if p.owner == ("Job", namespace, name)]
            finished = [p for p in pods if p.phase in ("Succeeded", "Failed") and not p.counted]
            for pod in finished:
                pod.counted = True
                key = "succeeded" if pod.phase == "Succeeded" else "failed"
                status[key] = status.get(key, 0) + 1
            running = [p for p in pods if p.phase not in ("Succeeded", "Failed")]
            if status.get("succeeded"):
                status["conditions"] = [{"type": "Complete", "status": "True", "lastTransitionTime": now_iso()}]
                status["completionTime"] = now_iso()
            elif status.get("failed", 0) > job["spec"].get("backoffLimit", 6):
                status["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                         "message": "Job has reached the specified backoff limit"}]
            elif not running:
                self._start_pod(job, ("Job", namespace, name), template_hash(job))
                status.setdefault("startTime", now_iso())
            status["active"] = len([p for p in self.pods.values() if p.owner == ("Job", namespace, name)
                                    and p.phase not in ("Succeeded", "Failed")])
            self._set_status_if_changed("batch/v1", job, status)

    def _set_status_if_changed(self, api_version: str, obj: dict, status: dict) -> None:
        old = obj.get("status") or {}
        if strip_times(old) == strip_times(status):
            return
        try:
            self.api.set_status(api_version, obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"], status)
        except (ApiError, KeyError):
            pass  # deleted meanwhile

    # ------------------------------------------------------------------ services (DNS + kube-proxy)
    def _sync_services(self) -> None:
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self.api.objects("Service")}
        changed = False
        for key in list(self.services):
            if key not in services:
                del self.services[key]
                changed = True
        for key in services:
            if key not in self.services:
                self.service_index += 1
                self.services[key] = f"127.77.{self.service_index // 250}.{self.service_index % 250 + 1}"
                changed = True
        for pod in self.pods.values():
            if pod.stopped or pod.netns is None:
                continue
            if changed:
                self._write_hosts(pod)
            wanted = {}
            for key, service in services.items():
                for port in service["spec"].get("ports", []):
                    wanted[(self.services[key], port["port"])] = (service, port)
            for address in [a for a in pod.relays if a[0].startswith("127.77.") and a not in wanted]:
                pod.relays.pop(address).close()
            for address, (service, port) in wanted.items():
                if address not in pod.relays:
                    pod.relays[address] = Relay(pod.netns, address, self._service_backend(service, port))

    def _service_backend(self, service: dict, port: dict):
        namespace = service["metadata"]["namespace"]
        selector = service["spec"].get("selector") or {}

        def connect() -> socket.socket:  # runs in a relay thread: reads a snapshot, takes no lock
            backends = [p for p in list(self.pods.values()) if p.namespace == namespace and p.ready
                        and not p.stopped and all(p.labels.get(k) == v for k, v in selector.items())]
            if not selector or not backends:
                raise ConnectionRefusedError("no ready endpoints")
            backend = backends[int(time.monotonic() * 1000) % len(backends)]
            return backend.netns.connect(("127.0.0.1", resolve_port(backend, port.get("targetPort", port["port"]))))
        return connect

    def _write_hosts(self, pod: Pod) -> None:
        lines = ["127.0.0.1\tlocalhost", f"127.0.0.1\t{pod.name}"]
        lines += [f"{address}\t{name}" for name, address in sorted(self.host_aliases.items())]
        for (namespace, name), address in sorted(self.services.items()):
            lines.append(f"{address}\t{name}.{namespace}.svc.cluster.local {name}.{namespace}.svc {name}.{namespace}"
                         + (f" {name}" if namespace == pod.namespace else ""))
        # Written in place: the file is bind-mounted into the pod's containers.
        with open(pod.directory / "hosts", "w") as hosts:
            hosts.write("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ pods
    def _start_pod(self, owner_obj: dict, owner: tuple[str, str, str], thash: str, node: dict | None = None) -> None:
        kind, namespace, owner_name = owner
        template = copy.deepcopy(owner_obj["spec"]["template"])
        spec = template["spec"]
        labels = dict(template.get("metadata", {}).get("labels") or {})
        if kind == "Deployment":
            labels["pod-template-hash"] = thash
            name = f"{owner_name}-{thash[:10]}-{uuid.uuid4().hex[:5]}"
        elif kind == "DaemonSet":
            labels["controller-revision-hash"] = thash
            name = f"{owner_name}-{uuid.uuid4().hex[:5]}"
        else:
            labels.update({"job-name": owner_name, "batch.kubernetes.io/job-name": owner_name,
                           "controller-uid": owner_obj["metadata"]["uid"]})
            name = f"{owner_name}-{uuid.uuid4().hex[:5]}"
        directory = self.workdir / f"{namespace}.{name}"
        directory.mkdir(parents=True)
        containers = [Container(c["name"], c, directory / f"{c['name']}.log") for c in spec["containers"]]
        if node is None:
            node, unschedulable = schedule(spec, self.nodes)
        pod = Pod(name, namespace, owner, thash, spec, labels, str(uuid.uuid4()), directory,
                  NetworkNamespace() if node else None, containers, node=node and node["name"])
        self.pods[name] = pod
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels, "uid": pod.uid,
                             "ownerReferences": [{"kind": "ReplicaSet" if kind == "Deployment" else kind,
                                                  "name": owner_name, "uid": owner_obj["metadata"]["uid"]}]},
                "spec": {**spec, **({"nodeName": pod.node} if pod.node else {})}, "status": {"phase": "Pending"}}
        if pod.node is None:  # stays Pending, as the scheduler leaves it
            body["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                             "message": unschedulable}]
        try:
            with self.api.lock:
                self.api.create(self.api.resource_for_kind("v1", "Pod"), namespace, body)
        except ApiError as error:
            self.errors.append(f"pod {name}: {error}")
        if pod.node is None:
            self.api.add_event(namespace, "Pod", name, "FailedScheduling", unschedulable)
            return
        self._write_hosts(pod)
        pod.relays[("127.0.0.1", API_PORT_IN_POD)] = Relay(
            pod.netns, ("127.0.0.1", API_PORT_IN_POD), host_connect(("127.0.0.1", self.api_port)))
        for pod_port, host_port in self.host_ports.items():
            pod.relays[("127.0.0.1", pod_port)] = Relay(
                pod.netns, ("127.0.0.1", pod_port), host_connect(("127.0.0.1", host_port)))

    def _stop_pod(self, pod: Pod, grace: float = 10) -> None:
        pod.stopped = True
        for container in pod.containers:
            stop_process(container.process, grace)
        for relay in pod.relays.values():
            relay.close()
        pod.relays.clear()
        if pod.netns is not None:
            pod.netns.close()
        self.pods.pop(pod.name, None)
        try:
            with self.api.lock:
                self.api.delete(self.api.resource_for_kind("v1", "Pod"), pod.namespace, pod.name, None)
        except ApiError:
            pass  # already gone with its owner
        shutil.rmtree(pod.directory, ignore_errors=True)

    def _run_containers(self, pod: Pod) -> None:
        if pod.stopped or pod.node is None or pod.phase in ("Succeeded", "Failed"):
            return
        restart = pod.spec.get("restartPolicy", "Always")
        now = time.monotonic()
        for container in pod.containers:
            process = container.process
            if process is not None and process.poll() is not None:
                container.exit_code, container.process, container.ready = process.returncode, None, False
                if restart == "Always" or (restart == "OnFailure" and process.returncode != 0):
                    container.restarts += 1
                    container.next_start = now + min(2 ** container.restarts, 10)
                    container.waiting_reason = "CrashLoopBackOff"
            if container.process is None and container.exit_code is not None and (
                    restart == "Never" or (restart == "OnFailure" and container.exit_code == 0)):
                continue
            if container.process is None and now >= container.next_start:
                try:
                    container.process = self._start_container(pod, container)
                    container.waiting_reason = container.waiting_message = None
                    container.next_probe = now + container.spec.get("readinessProbe", {}).get("initialDelaySeconds", 0)
                except ContainerConfigError as error:
                    container.waiting_reason, container.waiting_message = "CreateContainerConfigError", str(error)
                    container.next_start = now + 1
                except ImageNotRunnable as error:
                    container.waiting_reason, container.waiting_message = "ErrImagePull", str(error)
                    container.next_start = now + 5
        if restart != "Always" and all(c.process is None and c.exit_code is not None for c in pod.containers):
            pod.phase = "Succeeded" if all(c.exit_code == 0 for c in pod.containers) else "Failed"
            return
        if any(c.process is not None for c in pod.containers):
            pod.phase = "Running"
        for container in pod.containers:
            if container.process is not None and now >= container.next_probe:
                probe = container.spec.get("readinessProbe")
                container.ready = self._probe(pod, container, probe) if probe else True
                container.next_probe = now + min((probe or {}).get("periodSeconds", 10), 1)

    def _report_pod(self, pod: Pod) -> None:
        if (pod.stopped and pod.name not in self.pods) or pod.node is None:
            return
        statuses = []
        for container in pod.containers:
            if container.process is not None:
                state = {"running": {"startedAt": now_iso()}}
            elif container.exit_code is not None and not container.waiting_reason:
                state = {"terminated": {"exitCode": container.exit_code,
                                        "reason": "Completed" if container.exit_code == 0 else "Error"}}
            else:
                state = {"waiting": {"reason": container.waiting_reason or "ContainerCreating",
                                     **({"message": container.waiting_message} if container.waiting_message else {})}}
            statuses.append({"name": container.name, "ready": container.ready, "restartCount": container.restarts,
                             "image": container.spec.get("image"), "state": state})
        status = {"phase": pod.phase, "podIP": "127.0.0.1", "containerStatuses": statuses,
                  "conditions": [{"type": "PodScheduled", "status": "True"},
                                 {"type": "Ready", "status": "True" if pod.ready else "False"}]}
        stored = self.api.get_object("Pod", pod.namespace, pod.name)
        if stored is not None:
            self._set_status_if_changed("v1", stored, status)


    def _probe(self, pod: Pod, container: Container, probe: dict) -> bool:
        timeout = min(probe.get("timeoutSeconds", 1), 3)
        try:
            if "httpGet" in probe:
                port = resolve_port_in(container.spec, probe["httpGet"]["port"])
                with pod.netns.connect(("127.0.0.1", port), timeout=timeout) as sock:
                    sock.settimeout(timeout)
                    sock.sendall(f"GET {probe['httpGet'].get('path', '/')} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                    status_line = sock.recv(64).split(b"\r\n")[0].split()
                return len(status_line) > 1 and 200 <= int(status_line[1]) < 400
            if "tcpSocket" in probe:
                pod.netns.connect(("127.0.0.1", resolve_port_in(container.spec, probe["tcpSocket"]["port"])), timeout).close()
                return True
            if "exec" in probe:
                result = subprocess.run(["nsenter", f"--net={pod.netns.path}", "--", *probe["exec"]["command"]],
                                        capture_output=True, timeout=timeout, cwd=ROOT)
                return result.returncode == 0
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return False
        return True


def template_hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj["spec"]["template"], sort_keys=True).encode()).hexdigest()[:10]


def strip_times(value):
    if isinstance(value, dict):
        return {k: strip_times(v) for k, v in value.items()
                if k not in ("lastTransitionTime", "lastUpdateTime", "startedAt", "startTime", "completionTime")}
    if isinstance(value, list):
        return [strip_times(v) for v in value]
    return value


def resolve_port(pod: Pod, port) -> int:
    for container in pod.containers:
        try:
            return resolve_port_in(container.spec, port)
        except ValueError:
            continue
    raise ConnectionRefusedError(f"no port named {port} in pod {pod.name}")
