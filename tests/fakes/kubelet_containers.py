"""How the fake kubelet (tests/fakes/kubelet.py) starts one container: the image's config, the
environment and volumes Kubernetes would give it, and the shell that builds its root and mounts
before changing root and user. Split from kubelet.py to keep each file readable."""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.kubelet import Container, Pod

ROOT = Path(__file__).resolve().parents[2]
OUR_IMAGE = "our-image"
API_PORT_IN_POD = 443
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EKS_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


class ContainerConfigError(Exception):
    """What the kubelet reports as CreateContainerConfigError (a missing Secret or key)."""


def dockerfile_config(path: Path = ROOT / "Dockerfile") -> dict:
    """ENV, WORKDIR, USER and CMD of the project's Dockerfile (the image's config)."""
    config = {"env": {}, "workdir": "/", "user": None, "cmd": []}
    logical, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ENV":
            for token in shlex.split(rest):
                name, _, value = token.partition("=")
                config["env"][name] = value
        elif keyword == "WORKDIR":
            config["workdir"] = rest.strip()
        elif keyword == "USER":
            config["user"] = rest.strip()
        elif keyword == "CMD":
            config["cmd"] = json.loads(rest)
    return config


def expand(value: str, env: dict) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, others stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


class ImageNotRunnable(Exception):
    pass


class ContainerSetup:
    """The Kubelet's container-level part (a mixin: it uses the Kubelet's `api`, `images`,
    `image_config`, `venv_bin` and `ca_cert`)."""

    def _start_container(self, pod: Pod, container: Container) -> subprocess.Popen:
        spec = container.spec
        runs_as = self.images.get(spec.get("image"))
        if runs_as is None:
            raise ImageNotRunnable(f"image {spec.get('image')} is not available on this node")
        ours = runs_as == OUR_IMAGE
        account = self._service_account(pod)
        env = {"PATH": f"{self.venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOSTNAME": pod.name,
               **(self.image_config["env"] if ours else {"HOME": "/tmp"}),
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(API_PORT_IN_POD),
               "KUBERNETES_PORT": f"tcp://127.0.0.1:{API_PORT_IN_POD}"}
        role_arn = ((account or {}).get("metadata", {}).get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
        if role_arn:
            env.update(AWS_ROLE_ARN=role_arn, AWS_WEB_IDENTITY_TOKEN_FILE=f"{EKS_TOKEN_DIR}/token",
                       AWS_STS_REGIONAL_ENDPOINTS="regional")
        env.update(self._env_from(pod, spec))
        for item in spec.get("env", []):
            env[item["name"]] = self._env_value(pod, item, env)
        if ours:
            command = [expand(a, env) for a in (spec.get("command") or self.image_config["cmd"])]
            command += [expand(a, env) for a in spec.get("args", [])]
            workdir, user = self.image_config["workdir"], self.image_config["user"]
        else:
            command, workdir, user = list(runs_as), "/app", None
        security = {**(pod.spec.get("securityContext") or {}), **(spec.get("securityContext") or {})}
        if security.get("runAsUser") is not None:
            user = f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"
        mounts = self._mounts(pod, spec, account, role_arn)
        script = container_script(pod.directory / f"root-{container.name}", mounts, workdir, user,
                                  read_only=bool(security.get("readOnlyRootFilesystem")))
        log = open(container.log_path, "ab")
        try:
            return subprocess.Popen(
                ["nsenter", f"--net={pod.netns.path}", "--", "unshare", "--mount", "--propagation", "private",
                 "--", "sh", "-c", script, "container", *command],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def _service_account_name(self, pod: Pod) -> str:
        return pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount") or "default"

    def _service_account(self, pod: Pod) -> dict | None:
        return self.api.get_object("ServiceAccount", pod.namespace, self._service_account_name(pod))

    def _token(self, pod: Pod) -> str:
        """The pod's service-account token: the API server authorizes it with RBAC."""
        if pod.token is None:
            pod.token = self.api.issue_token(pod.namespace, self._service_account_name(pod))
        return pod.token

    def _lookup(self, kind: str, namespace: str, name: str, key: str | None, optional: bool):
        obj = self.api.get_object(kind, namespace, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
        if key is None:
            return data
        if key not in data:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key]

    def _env_from(self, pod: Pod, spec: dict) -> dict:
        env = {}
        for source in spec.get("envFrom", []):
            prefix = source.get("prefix", "")
            for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if ref_key in source:
                    ref = source[ref_key]
                    data = self._lookup(kind, pod.namespace, ref["name"], None, ref.get("optional", False)) or {}
                    env.update({prefix + k: v for k, v in data.items()})
        return env

    def _env_value(self, pod: Pod, item: dict, env: dict) -> str:
        if "value" in item:
            return expand(str(item["value"]), env)
        source = item.get("valueFrom") or {}
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            kind, ref = ("Secret", source["secretKeyRef"]) if "secretKeyRef" in source else ("ConfigMap", source["configMapKeyRef"])
            value = self._lookup(kind, pod.namespace, ref["name"], ref["key"], ref.get("optional", False))
            return value or ""
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid,
                      "spec.nodeName": pod.node or "", "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                      "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default")}
            label = re.match(r"metadata\.labels\['(.+)'\]", path)
            return pod.labels.get(label.group(1), "") if label else fields.get(path, "")
        return ""

    def _mounts(self, pod: Pod, spec: dict, account: dict | None, role_arn: str | None) -> list[tuple[str, str, bool]]:
        """(source on the host, path in the container, read-only) for every mount."""
        volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
        mounts = []
        for mount in spec.get("volumeMounts", []):
            source = self._volume_dir(pod, volumes[mount["name"]])
            if mount.get("subPath"):
                source = source / mount["subPath"]
            mounts.append((str(source), mount["mountPath"], bool(mount.get("readOnly"))))
        automount = pod.spec.get("automountServiceAccountToken",
                                 (account or {}).get("automountServiceAccountToken", True))
        if automount and not any(m[1] == SERVICE_ACCOUNT_DIR for m in mounts):
            directory = pod.directory / "kube-api-access"
            write_files(directory, {"token": self._token(pod), "ca.crt": self.ca_cert, "namespace": pod.namespace})
            mounts.append((str(directory), SERVICE_ACCOUNT_DIR, True))
        if role_arn:
            directory = pod.directory / "aws-iam-token"
            write_files(directory, {"token": f"web-identity-{pod.name}"})
            mounts.append((str(directory), EKS_TOKEN_DIR, True))
        mounts.append((str(pod.directory / "hosts"), "/etc/hosts", True))
        return mounts

    def _volume_dir(self, pod: Pod, volume: dict) -> Path:
        directory = pod.directory / "volumes" / volume["name"]
        if directory.exists():
            return directory
        if "emptyDir" in volume:
            directory.mkdir(parents=True)
            directory.chmod(0o1777)
        elif "configMap" in volume or "secret" in volume:
            kind, ref = ("ConfigMap", volume["configMap"]) if "configMap" in volume else ("Secret", volume["secret"])
            name = ref.get("name") or ref.get("secretName")
            data = self._lookup(kind, pod.namespace, name, None, ref.get("optional", False)) or {}
            if ref.get("items"):
                data = {item["path"]: data[item["key"]] for item in ref["items"] if item["key"] in data}
            write_files(directory, data)
        elif "projected" in volume:
            files = {}
            for source in volume["projected"].get("sources", []):
                if "serviceAccountToken" in source:
                    files[source["serviceAccountToken"]["path"]] = self._token(pod)
                for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                    if key in source:
                        data = self._lookup(kind, pod.namespace, source[key]["name"], None,
                                            source[key].get("optional", False)) or {}
                        items = source[key].get("items")
                        files.update({i["path"]: data[i["key"]] for i in items} if items else data)
            write_files(directory, files)
        else:
            raise ContainerConfigError(f"volume {volume['name']}: type not supported by the fake kubelet")
        return directory


def resolve_port_in(container_spec: dict, port) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for entry in container_spec.get("ports", []):
        if entry.get("name") == port:
            return entry["containerPort"]
    raise ValueError(f"no port named {port}")


def write_files(directory: Path, files: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o644)


def stop_process(process: subprocess.Popen | None, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def container_script(root: Path, mounts: list[tuple[str, str, bool]], workdir: str, user: str | None,
                     read_only: bool) -> str:
    """The shell run in the container's new mount namespace: builds its root, mounts its volumes,
    then changes root (and user) and execs the command given as "$@"."""
    q = shlex.quote
    r = str(root)
    lines = ["set -e", f"mkdir -p {q(r)}", f"mount -t tmpfs -o mode=755 tmpfs {q(r)}"]
    # The venv's real place too: a worktree's .venv may be a link to another checkout's.
    host_trees = ["/usr", "/etc", sys.base_prefix, sys.prefix, os.path.realpath(sys.prefix), str(ROOT)]
    host_trees = [t for t in dict.fromkeys(host_trees)
                  if not any(t != other and t.startswith(other.rstrip("/") + "/") for other in host_trees)]
    # A host tree under a volume's mount point (a checkout under /tmp, where the chart mounts an
    # emptyDir) is bound after the volumes, or the volume would hide it.
    targets = [target.rstrip("/") + "/" for _, target, _ in mounts]
    late = [tree for tree in host_trees if any(tree.startswith(target) for target in targets)]
    for tree in host_trees:
        if tree not in late:
            lines += _bind_read_only(tree, r + tree)
    for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        target = os.readlink(f"/{link}") if os.path.islink(f"/{link}") else None
        if target:
            lines.append(f"ln -s {q(target)} {q(r + '/' + link)}")
        elif os.path.isdir(f"/{link}"):
            lines += [f"mkdir -p {q(r + '/' + link)}", f"mount --rbind /{link} {q(r + '/' + link)}"]
    lines += [f"mkdir -p {q(r)}/proc {q(r)}/dev {q(r)}/sys {q(r)}/tmp {q(r)}/run {q(r)}/var {q(r)}/opt {q(r)}/app",
              f"chmod 1777 {q(r)}/tmp", f"ln -s /run {q(r)}/var/run", f"ln -s /tmp {q(r)}/var/tmp",
              f"mount -t proc proc {q(r)}/proc", f"mount --rbind /dev {q(r)}/dev", f"mount --rbind /sys {q(r)}/sys",
              f"mount --bind {q(str(ROOT))} {q(r)}/app", f"mount -o remount,bind,ro {q(r)}/app"]
    for source, target, ro in mounts:
        # /var/run is a link to /run in the container's root
        target = "/run" + target[len("/var/run"):] if target.startswith("/var/run/") else target
        destination = r + target
        if os.path.isdir(source):
            lines.append(f"mkdir -p {q(destination)}")
        else:
            lines.append(f"mkdir -p {q(os.path.dirname(destination))}; [ -e {q(destination)} ] || touch {q(destination)}")
        lines.append(f"mount --bind {q(source)} {q(destination)}")
        if ro:
            lines.append(f"mount -o remount,bind,ro {q(destination)}")
    for tree in late:
        lines += _bind_read_only(tree, r + tree)
    if read_only:
        lines.append(f"mount -o remount,ro {q(r)}")
    userspec = f"--userspec={q(user)} " if user else ""
    lines.append(f"exec chroot {userspec}{q(r)} /bin/sh -c 'cd \"$0\" && exec \"$@\"' {q(workdir)} \"$@\"")
    return "\n".join(lines)


def _bind_read_only(source: str, destination: str) -> list[str]:
    q = shlex.quote
    return [f"mkdir -p {q(destination)}", f"mount --rbind {q(source)} {q(destination)}",
            f"mount -o remount,bind,ro {q(destination)}"]
