"""The chart installed for real: `helm install -f values_sample.yaml` against the fake API server,
whose pods a small kubelet (tests/fakes/kubelet.py) runs as native processes, then the
self-hosting guide's curl session, verbatim, through a gateway pod's port, then `helm uninstall`.

What is real here: helm, the chart as rendered, every process of the control plane with the
env, secrets, mounts, service account and commands the chart gives it (the migration hook runs
`migrate` on a fresh PostgreSQL database, the gateway serves, the builder applies the endpoint,
the cacher marks it READY), Redis, and the endpoint's pod (the forwarder beside a fake TGI server
standing for the TGI image). Outermost fakes: the Kubernetes API server and AWS (moto, where the
guide's ECR image is pushed). Names and values are the sample's; the one addition is where AWS
is (`extraEnv` AWS_ENDPOINT_URL, as for a VPC endpoint), and DNS, played by /etc/hosts, sends
the sample's Redis host name to the test run's redis-server.

Needs root (network and mount namespaces), as `make test` runs.
"""
import json
import os
import re
import subprocess
import time
import urllib.parse
import uuid

import psycopg
import pytest
import yaml

from tests.chart.docs_cluster import CPU_NODES, GPU_NODE, NODES
from tests.chart.helm import CHART, HELM, ROOT, SAMPLE_VALUES
from tests.fakes.k8s_api import FakeKubernetesApi, FakeKubernetesServer
from tests.fakes.k8s_fixtures import write_kubeconfig
from tests.fakes.kubelet import OUR_IMAGE, Kubelet
from tests.fakes.netns import NetworkNamespace, Relay
from tests.fakes.tls import self_signed_certificate

NAMESPACE = "llm-engine"
RELEASE = "llm-engine"
SAMPLE = yaml.safe_load(SAMPLE_VALUES.read_text())
IMAGE = f"{SAMPLE['image']['gatewayRepository']}:{SAMPLE['tag']}"
PREFIX = SAMPLE["config"]["values"]["infra"]["docker_repo_prefix"]
ACCOUNT = SAMPLE["config"]["values"]["infra"]["ml_account_id"]
REGION = SAMPLE["config"]["values"]["infra"]["default_region"]
ROLE_ARN = SAMPLE["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
TGI_IMAGE = f"{PREFIX}/text-generation-inference:0.9.3"
DOC = (ROOT / "docs" / "self-hosting.md").read_text()


def guide_curl_commands() -> list[str]:
    """The curl commands of the guide's session, as docs/self-hosting.md gives them (that doc is
    checked against the public guide word for word by test_docs.py)."""
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", DOC, flags=re.S):
        if "curl -X" not in block:
            continue
        lines = block.strip().splitlines()
        if lines[0].startswith("$ "):
            commands.append(lines[0][2:])
        else:
            commands.append(block.strip())
    return commands


def push_image_to_ecr(moto_url: str, repository: str, tag: str) -> None:
    """What `docker push` to the sample's ECR does, in the sample's account (moto keeps accounts
    apart by the credentials of an assumed role)."""
    import boto3

    sts = boto3.client("sts", endpoint_url=moto_url, region_name=REGION,
                       aws_access_key_id="operator", aws_secret_access_key="operator")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/operator",
                                  RoleSessionName="push")["Credentials"]
    ecr = boto3.client("ecr", endpoint_url=moto_url, region_name=REGION,
                       aws_access_key_id=credentials["AccessKeyId"],
                       aws_secret_access_key=credentials["SecretAccessKey"],
                       aws_session_token=credentials["SessionToken"])
    ecr.create_repository(repositoryName=repository)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest))


@pytest.fixture
def database():
    """A new, empty PostgreSQL database (the guide's RDS), dropped afterwards."""
    base = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    name = f"llme_e2e_{uuid.uuid4().hex[:10]}"
    admin = base._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield base._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cluster(tmp_path, moto_server, database):
    """The fake cluster (TLS API server + kubelet), with what the guide asks to exist before
    `helm install`: the namespace, the database Secret and the framework image in ECR."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).close()
    push_image_to_ecr(moto_server, "text-generation-inference", "0.9.3")
    cert, key = self_signed_certificate(tmp_path)
    api = FakeKubernetesApi(token="e2e-token")
    server = FakeKubernetesServer(api, tls=(str(cert), str(key))).start()
    api.create(api.resource_for_kind("v1", "Namespace"), "", {"metadata": {"name": NAMESPACE}})
    api.create(api.resource_for_kind("v1", "Secret"), NAMESPACE, {
        "metadata": {"name": SAMPLE["secrets"]["kubernetesDatabaseSecretName"]},
        "data": {"database_url": __import__("base64").b64encode(database.encode()).decode()}})
    redis_url = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    moto_port = urllib.parse.urlsplit(moto_server).port
    sample_redis = urllib.parse.urlsplit(SAMPLE["config"]["values"]["llm_engine"]["cache_redis_url"])
    python = str(ROOT / ".venv" / "bin" / "python")
    kubelet = Kubelet(
        api, api_port=server.server_address[1], ca_cert=cert, workdir=tmp_path / "node",
        nodes=NODES, images={IMAGE: OUR_IMAGE, TGI_IMAGE: [python, "-m", "tests.fakes.model_servers", "tgi", "--port", "5005"]},
        host_ports={5432: urllib.parse.urlsplit(database).port or 5432, sample_redis.port: redis_url.port,
                    moto_port: moto_port},
        host_aliases={sample_redis.hostname: "127.0.0.1"}, python=python,
    ).start()
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, server.url, api.token, namespace=NAMESPACE)
    kubeconfig.write_text(kubeconfig.read_text().replace("    server:", f"    certificate-authority: {cert}\n    server:"))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"), "HELM_DATA_HOME": str(tmp_path / "helm-data")}
    yield {"api": api, "kubelet": kubelet, "helm_env": env, "moto": moto_server, "server": server.url, "ca": cert}
    kubelet.stop()
    server.stop()


def helm(cluster, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(HELM), *args], env=cluster["helm_env"], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def kube_status(cluster, path: str, token: str) -> int:
    """HTTP status of a GET on the fake API server with a service account's token."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(cluster["ca"]))
    request = urllib.request.Request(cluster["server"] + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(what: str, check, cluster, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}\n{cluster['kubelet'].logs()}")


def deployment_ready(api, namespace: str, name: str) -> bool:
    deployment = api.get_object("Deployment", namespace, name)
    if deployment is None:
        return False
    wanted = deployment["spec"].get("replicas", 1)
    return (deployment.get("status") or {}).get("readyReplicas", 0) >= wanted


@pytest.mark.timeout(900)  # helm, migrate and six processes starting on two shared cores
def test_helm_install_runs_the_guides_session_and_uninstalls_clean(cluster):
    api, kubelet = cluster["api"], cluster["kubelet"]

    # helm install, as the guide says (plus where AWS is); the pre-install hook runs migrate.
    extra_env = json.dumps([{"name": "AWS_ENDPOINT_URL", "value": cluster["moto"]}])
    installed = helm(cluster, "install", RELEASE, str(CHART), "-f", str(SAMPLE_VALUES), "-n", NAMESPACE,
                     "--set-json", f"extraEnv={extra_env}", "--timeout", "5m")
    assert installed.returncode == 0, f"{installed.stderr}\n{kubelet.logs()}"
    assert "STATUS: deployed" in installed.stdout
    # The hook Job ran to completion (and was deleted by its hook-succeeded policy).
    assert api.get_object("Job", NAMESPACE, "llm-engine-migrations-1") is None

    for name in ("llm-engine", "llm-engine-cacher", "llm-engine-endpoint-builder"):
        wait_for(f"Deployment {name} ready", lambda: deployment_ready(api, NAMESPACE, name), cluster)
    gateway_pods = kubelet.pods_of(NAMESPACE, {"app.kubernetes.io/component": "gateway"})
    assert len(gateway_pods) == SAMPLE["replicaCount"]["gateway"]
    # The guide's pod list: the control plane on the CPU nodes (it does not tolerate the GPU
    # taint), one image cache on the a10 node (none for GPU types this cluster lacks).
    control_plane = [p for p in kubelet.pods.values() if p.namespace == NAMESPACE
                     and not p.name.startswith("llm-engine-image-cache-")]
    assert len(control_plane) == SAMPLE["replicaCount"]["gateway"] + 2
    assert {p.node for p in control_plane} <= CPU_NODES, [(p.name, p.node) for p in control_plane]
    wait_for("the a10 image cache", lambda: [p for p in kubelet.pods_of(NAMESPACE, {"app": "llm-engine-image-cache-a10"})
                                            if p.ready], cluster)
    caches = [p for p in kubelet.pods.values() if p.name.startswith("llm-engine-image-cache-")]
    assert [(p.owner[2], p.node) for p in caches] == [("llm-engine-image-cache-a10", GPU_NODE)]

    # kubectl port-forward pod/llm-engine-<...> 5000:5000, from the operator's own machine (a
    # network namespace of its own, so the guide's localhost:5000 is exactly that).
    laptop = NetworkNamespace()
    gateway = gateway_pods[0]
    forward = Relay(laptop, ("127.0.0.1", 5000), lambda: gateway.netns.connect(("127.0.0.1", 5000)))

    def curl(command: str) -> str:
        result = subprocess.run(["nsenter", f"--net={laptop.path}", "--", "sh", "-c", command + " -sS"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}\n{result.stderr}\n{kubelet.logs()}"
        return result.stdout

    try:
        listed, create, complete = guide_curl_commands()
        assert json.loads(curl(listed)) == {"model_endpoints": []}

        created = json.loads(curl(create))
        assert set(created) == {"endpoint_creation_task_id"}, created

        def endpoint_status():
            got = curl('curl -u "test-user-id:" http://localhost:5000/v1/llm/model-endpoints/llama-7b')
            status = json.loads(got).get("status")
            assert status != "UPDATE_FAILED", f"{got}\n{kubelet.logs()}"
            return status == "READY" and status
        wait_for("llama-7b READY", endpoint_status, cluster, timeout=300)
        endpoint_pods = [p for p in kubelet.pods.values() if p.namespace == "llm-engine-endpoints"]
        assert len(endpoint_pods) == 1 and endpoint_pods[0].ready
        assert endpoint_pods[0].node == GPU_NODE
        assert {c.name for c in endpoint_pods[0].containers} == {"main", "http-forwarder"}

        answer = json.loads(curl(complete))
        assert answer["status"] == "SUCCESS", answer
        assert answer["outputs"][0]["num_completion_tokens"] == 30
        assert answer["outputs"][0]["text"].strip()
    finally:
        forward.close()
        laptop.close()

    # Everything the control plane asked of the API server was allowed by the chart's RBAC, which
    # the fake enforces: the endpoint pods' account, which the chart grants nothing, is refused.
    assert api.denials == [], "\n".join(api.denials)
    assert kube_status(cluster, "/apis/apps/v1/namespaces/llm-engine-endpoints/deployments",
                       api.issue_token("llm-engine-endpoints", "llm-engine-endpoint")) == 403
    assert kube_status(cluster, "/apis/apps/v1/namespaces/llm-engine-endpoints/deployments",
                       api.issue_token(NAMESPACE, "llm-engine")) == 200

    # helm uninstall leaves nothing of the chart behind but what it keeps on purpose: the
    # endpoint namespace (helm.sh/resource-policy: keep), which holds the users' endpoints.
    uninstalled = helm(cluster, "uninstall", RELEASE, "-n", NAMESPACE)
    assert uninstalled.returncode == 0, uninstalled.stderr
    left = [obj for obj in api.objects()
            if (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == RELEASE
            or obj["metadata"]["name"].startswith("sh.helm.release")]
    kept = [(o["kind"], o["metadata"]["name"]) for o in left
            if (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"]
    assert kept == [("Namespace", "llm-engine-endpoints")]
    assert [(o["kind"], o["metadata"]["name"]) for o in left if (o["kind"], o["metadata"]["name"]) not in kept] == []
    wait_for("the control plane's pods to go",
             lambda: not kubelet.pods_of(NAMESPACE, {"app.kubernetes.io/instance": RELEASE}), cluster, timeout=60)
