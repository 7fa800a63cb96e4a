"""The chart's NetworkPolicies and the endpoint namespace (docs/security.md#network,
docs/security.md#namespaces).

The selectors are checked against the labels the pods really carry: the control plane's from the
rendered chart, the tenant pods' from what the builder renders for every kind of endpoint and
job (not against copied strings), in the namespace the chart's settings give the builder.
"""
import ipaddress

import kubernetes_validate
import pytest

from endpoints.manifests import render_endpoint
from jobs import manifests as job_manifests
from jobs.models import BatchJob, Trigger
from tests.chart.helm import KUBE_VERSION, NAMESPACE, REQUIRED_SETS, find, render, sets, template_result
from tests.manifests.factories import async_spec, cpu_sync_spec, guide_llama_7b_spec, multi_node_spec

POLICY_NAMES = {"llm-engine-workloads", "llm-engine-endpoint-forwarder", "llm-engine-multinode",
                "llm-engine-control-plane"}


# --- reading objects -----------------------------------------------------------------------------


def matches(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels and the four matchExpressions operators)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def namespace_labels(name: str) -> dict:
    # The API server sets this label on every namespace (Kubernetes >= 1.21).
    return {"kubernetes.io/metadata.name": name}


def pod_templates(obj: dict) -> list[tuple[str, dict, dict]]:
    """(what, pod labels, pod spec) of every pod template of a rendered workload."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind in ("Deployment", "Job", "DaemonSet"):
        template = obj["spec"]["template"]
        return [(f"{kind}/{name}", template["metadata"]["labels"], template["spec"])]
    if kind == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
        return [(f"{kind}/{name}", template["metadata"]["labels"], template["spec"])]
    if kind == "LeaderWorkerSet":
        lws = obj["spec"]["leaderWorkerTemplate"]
        return [(f"{kind}/{name}/{part}", lws[part]["metadata"]["labels"], lws[part]["spec"])
                for part in ("leaderTemplate", "workerTemplate")]
    return []


def container_port(pod_spec: dict, container_name: str) -> int:
    (container,) = [c for c in pod_spec["containers"] if c["name"] == container_name]
    (port,) = container["ports"]
    return port["containerPort"]


def ingress_peers_allow(policy: dict, source_namespace: str, source_labels: dict, port: int) -> bool:
    for rule in policy["spec"].get("ingress") or []:
        if not any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in rule.get("ports") or [{"port": port}]):
            continue
        for peer in rule.get("from") or []:
            namespace_ok = (matches(peer["namespaceSelector"], namespace_labels(source_namespace))
                            if "namespaceSelector" in peer else source_namespace == policy["metadata"]["namespace"])
            pod_ok = matches(peer["podSelector"], source_labels) if "podSelector" in peer else True
            if "ipBlock" not in peer and namespace_ok and pod_ok:
                return True
    return False


def chart_settings(objects: list[dict]) -> dict:
    return find(objects, "ConfigMap", "llm-engine-config")["data"]


# --- the tenant pods, as the builder renders them ------------------------------------------------


def _job(**overrides) -> BatchJob:
    values = dict(id="ft-cismpd08agn003rr2kc0", kind="fine_tune", owner="team-a", created_by="user-a",
                  image="registry.example.com/trainer:1", command=["python", "train.py"], env={},
                  job_config={}, mount_location="/etc/config/job.json", labels={}, annotations={},
                  max_runtime_seconds=3600, num_workers=1, cpus="4", memory="16Gi", gpus=1,
                  gpu_type="nvidia-ampere-a10")
    values.update(overrides)
    return BatchJob(**values)


def tenant_workloads() -> list[dict]:
    """Every kind of object the builder renders that runs a pod in the endpoint namespace."""
    objects = []
    for spec in (guide_llama_7b_spec(), cpu_sync_spec(), async_spec(), async_spec(queue_backend="redis",
                                                                                  queue_url=None)):
        objects += render_endpoint(spec, keda_available=True, lws_available=False)
    objects += render_endpoint(multi_node_spec(), keda_available=True, lws_available=True)
    objects.append(job_manifests.render_job(_job()))
    objects.append(job_manifests.render_job(_job(
        id="bc-cismpd08agn003rr2kc0", kind="batch_completion",
        job_config={"model_server": {"image": "vllm/vllm-openai:v0.6.3", "command": ["vllm", "serve"],
                                     "port": 5005, "health_route": "/health"}})))
    trigger = Trigger(id="trg-cismpd08agn003rr2kc0", name="nightly", owner="team-a", created_by="user-a",
                      cron_schedule="0 2 * * *")
    objects.append(job_manifests.render_trigger_cron_job(trigger))
    return [obj for obj in objects if pod_templates(obj)]


@pytest.fixture(scope="module")
def chart():
    return render()


@pytest.fixture
def tenant(chart, settings):
    """The builder's objects, rendered with the endpoint namespace the chart gives it."""
    settings.LLME_ENDPOINT_NAMESPACE = chart_settings(chart)["LLME_ENDPOINT_NAMESPACE"]
    return tenant_workloads()


def endpoint_pods(tenant) -> list[tuple[str, dict, dict]]:
    """Pods that run the forwarder (every endpoint pod that serves HTTP)."""
    return [pod for obj in tenant for pod in pod_templates(obj)
            if any(c["name"] == "http-forwarder" for c in pod[2]["containers"])]


def gateway_pod(chart) -> tuple[dict, dict]:
    template = find(chart, "Deployment", "llm-engine")["spec"]["template"]
    return template["metadata"]["labels"], template["spec"]


# --- on by default, a value turns them off -------------------------------------------------------


def test_policies_are_rendered_by_default_and_pass_the_schema(chart):
    policies = [obj for obj in chart if obj["kind"] == "NetworkPolicy"]
    assert {p["metadata"]["name"] for p in policies} == POLICY_NAMES
    for policy in policies:
        kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)


def test_network_policy_enabled_false_renders_none():
    objects = render("--set", "networkPolicy.enabled=false")
    assert [obj for obj in objects if obj["kind"] == "NetworkPolicy"] == []


# --- ingress: only the gateway reaches the forwarder ---------------------------------------------


def test_tenant_pods_run_in_the_endpoint_namespace_the_policies_cover(chart, tenant):
    endpoint_namespace = chart_settings(chart)["LLME_ENDPOINT_NAMESPACE"]
    assert endpoint_namespace != NAMESPACE
    assert {obj["metadata"]["namespace"] for obj in tenant} == {endpoint_namespace}
    for name in ("llm-engine-workloads", "llm-engine-endpoint-forwarder", "llm-engine-multinode"):
        assert find(chart, "NetworkPolicy", name)["metadata"]["namespace"] == endpoint_namespace


def test_every_tenant_pod_is_denied_ingress_by_default(chart, tenant):
    policy = find(chart, "NetworkPolicy", "llm-engine-workloads")
    assert "Ingress" in policy["spec"]["policyTypes"] and not policy["spec"]["ingress"]
    for what, labels, _ in [pod for obj in tenant for pod in pod_templates(obj)]:
        assert matches(policy["spec"]["podSelector"], labels), what


def test_forwarder_port_accepts_the_gateway_pods_only(chart, tenant):
    policy = find(chart, "NetworkPolicy", "llm-engine-endpoint-forwarder")
    gateway_labels, _ = gateway_pod(chart)
    pods = endpoint_pods(tenant)
    assert len(pods) == 5  # three sync/streaming, two async, the multi-node leader
    for what, labels, spec in pods:
        assert matches(policy["spec"]["podSelector"], labels), what
        port = container_port(spec, "http-forwarder")
        assert ingress_peers_allow(policy, NAMESPACE, gateway_labels, port), what
    endpoint_namespace = policy["metadata"]["namespace"]
    port = container_port(pods[0][2], "http-forwarder")
    # Not another control-plane pod, not a tenant pod, not the gateway's labels from elsewhere.
    for component in ("llm-engine-endpoint-builder", "llm-engine-cacher"):
        labels = find(chart, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
        assert not ingress_peers_allow(policy, NAMESPACE, labels, port), component
    for what, labels, _ in [pod for obj in tenant for pod in pod_templates(obj)]:
        assert not ingress_peers_allow(policy, endpoint_namespace, labels, port), what
    assert not ingress_peers_allow(policy, "default", gateway_labels, port)
    # Only the forwarder's port: the model container's port stays closed.
    assert not ingress_peers_allow(policy, NAMESPACE, gateway_labels, container_port(pods[0][2], "main"))


def test_jobs_and_triggers_get_no_ingress_rule(chart, tenant):
    allowing = [find(chart, "NetworkPolicy", name) for name in ("llm-engine-endpoint-forwarder", "llm-engine-multinode")]
    jobs = [pod for obj in tenant if obj["kind"] in ("Job", "CronJob") for pod in pod_templates(obj)]
    assert len(jobs) == 3
    for what, labels, _ in jobs:
        assert not any(matches(p["spec"]["podSelector"], labels) for p in allowing), what


def test_multi_node_leader_and_workers_reach_each_other_and_only_they(chart, tenant):
    policy = find(chart, "NetworkPolicy", "llm-engine-multinode")
    lws = [pod for obj in tenant if obj["kind"] == "LeaderWorkerSet" for pod in pod_templates(obj)]
    assert len(lws) == 2
    for _, labels, _ in lws:
        assert matches(policy["spec"]["podSelector"], labels)
        for _, peer_labels, _ in lws:
            assert ingress_peers_allow(policy, policy["metadata"]["namespace"], peer_labels, 6379)
    single = [pod for obj in tenant if obj["kind"] == "Deployment" for pod in pod_templates(obj)]
    for what, labels, _ in single:
        assert not matches(policy["spec"]["podSelector"], labels), what
        assert not ingress_peers_allow(policy, policy["metadata"]["namespace"], labels, 6379), what


def test_builder_and_cacher_accept_no_connection_and_the_gateway_stays_reachable(chart):
    policy = find(chart, "NetworkPolicy", "llm-engine-control-plane")
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["policyTypes"] == ["Ingress"] and not policy["spec"]["ingress"]
    for name in ("llm-engine-endpoint-builder", "llm-engine-cacher"):
        labels = find(chart, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert matches(policy["spec"]["podSelector"], labels), name
    gateway_labels, _ = gateway_pod(chart)
    assert not matches(policy["spec"]["podSelector"], gateway_labels)


# --- egress: DNS, the gateway Service, the world minus the control plane's stores -----------------


def _egress_allows_pod(policy: dict, namespace: str, labels: dict, port: int) -> bool:
    for rule in policy["spec"]["egress"]:
        ports = rule.get("ports")
        if ports and not any(p["port"] == port for p in ports):
            continue
        peers = rule.get("to")
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                continue
            if matches(peer.get("namespaceSelector", {}), namespace_labels(namespace)) and \
                    matches(peer.get("podSelector", {}), labels):
                return True
    return False


def _egress_allows_ip(policy: dict, address: str, port: int) -> bool:
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = rule.get("ports")
        if ports and not any(p["port"] == port for p in ports):
            continue
        if not rule.get("to"):
            return True
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block and ip.version == ipaddress.ip_network(block["cidr"]).version \
                    and ip in ipaddress.ip_network(block["cidr"]) \
                    and not any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])):
                return True
    return False


def test_tenant_pods_reach_the_gateway_pods_on_their_port_and_no_other_control_plane_pod(chart):
    policy = find(chart, "NetworkPolicy", "llm-engine-workloads")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    gateway_labels, gateway_spec = gateway_pod(chart)
    gateway_port = container_port(gateway_spec, "gateway")
    assert _egress_allows_pod(policy, NAMESPACE, gateway_labels, gateway_port)
    # The triggers' URL is the gateway Service, which forwards to that port.
    service = find(chart, "Service", "llm-engine")
    assert matches({"matchLabels": service["spec"]["selector"]}, gateway_labels)
    assert service["spec"]["ports"][0]["targetPort"] == gateway_spec["containers"][0]["ports"][0]["name"]
    assert not _egress_allows_pod(policy, NAMESPACE, gateway_labels, 6379)
    for name in ("llm-engine-endpoint-builder", "llm-engine-cacher"):
        labels = find(chart, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert not _egress_allows_pod(policy, NAMESPACE, labels, gateway_port), name


def test_dns_and_the_outside_world_stay_reachable_but_instance_metadata_does_not(chart):
    policy = find(chart, "NetworkPolicy", "llm-engine-workloads")
    assert _egress_allows_ip(policy, "10.100.0.10", 53)  # cluster DNS, any address
    assert _egress_allows_ip(policy, "52.216.0.1", 443)  # S3
    assert _egress_allows_ip(policy, "2600:1f18::1", 443)
    assert not _egress_allows_ip(policy, "169.254.169.254", 80)
    assert not _egress_allows_ip(policy, "fd00:ec2::254", 80)


def _pod_egress_allows_ip(policies: list[dict], labels: dict, address: str, port: int) -> bool:
    """Egress is the union of every policy that selects the pod and has an Egress part."""
    selecting = [p for p in policies if "Egress" in p["spec"]["policyTypes"] and matches(p["spec"]["podSelector"], labels)]
    assert selecting, f"no egress policy selects {labels}"
    return any(_egress_allows_ip(policy, address, port) for policy in selecting)


def _forwarder_uses_redis(obj: dict, tenant: list[dict]) -> bool:
    """Whether an endpoint's forwarder is given a Redis URL (its Secret, read from the render)."""
    secrets = [o for o in tenant if o["kind"] == "Secret" and o["metadata"]["labels"] == obj["metadata"]["labels"]]
    return any("REDIS_URL" in (o.get("stringData") or o.get("data") or {}) for o in secrets)


@pytest.mark.parametrize("backend", ["sqs", "redis"])
def test_database_is_blocked_for_all_and_redis_for_all_but_redis_backend_endpoint_pods(backend, settings):
    objects = render(*sets("networkPolicy.databaseCIDRs={10.0.64.0/24}", "networkPolicy.redisCIDRs={10.0.65.0/24}",
                           f"queueBackend={backend}"))
    policies = [obj for obj in objects if obj["kind"] == "NetworkPolicy"]
    for policy in policies:
        kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
    settings.LLME_ENDPOINT_NAMESPACE = chart_settings(objects)["LLME_ENDPOINT_NAMESPACE"]
    settings.LLME_QUEUE_BACKEND = backend
    spec = async_spec() if backend == "sqs" else async_spec(queue_backend="redis", queue_url=None)
    everything = render_endpoint(spec, keda_available=True, lws_available=False)
    # On the Redis backend async forwarders use Redis (each as its own ACL user); on SQS they
    # report to the gateway and get no Redis at all, so no endpoint pod may reach it.
    async_pods = [(obj, pod) for obj in everything if obj["kind"] == "Deployment" for pod in pod_templates(obj)]
    assert len(async_pods) == 1
    assert _forwarder_uses_redis(async_pods[0][0], everything) == (backend == "redis")
    tenant = tenant_workloads()
    for what, labels, _ in [pod for obj in tenant for pod in pod_templates(obj)]:
        assert not _pod_egress_allows_ip(policies, labels, "10.0.64.12", 5432), what
        assert _pod_egress_allows_ip(policies, labels, "10.0.66.12", 443), what
    for _, (what, labels, _) in async_pods:
        assert _pod_egress_allows_ip(policies, labels, "10.0.65.12", 6379) == (backend == "redis"), what
    jobs = [pod for obj in tenant if obj["kind"] in ("Job", "CronJob") for pod in pod_templates(obj)]
    assert len(jobs) == 3
    for what, labels, _ in jobs:
        assert not _pod_egress_allows_ip(policies, labels, "10.0.65.12", 6379), what


def test_a_cidr_that_is_not_one_is_refused_naming_the_value():
    result = template_result(*sets("networkPolicy.databaseCIDRs={my-db.example.com}"))
    assert result.returncode != 0
    assert "databaseCIDRs" in result.stderr


# --- the endpoint namespace ----------------------------------------------------------------------


def test_values_defaults_put_tenant_pods_outside_the_release_namespace():
    objects = render(*sets(*REQUIRED_SETS), values=None)
    endpoint_namespace = chart_settings(objects)["LLME_ENDPOINT_NAMESPACE"]
    assert endpoint_namespace != NAMESPACE
    namespace = find(objects, "Namespace", endpoint_namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    kubernetes_validate.validate(namespace, KUBE_VERSION, strict=True)
    assert {p["metadata"]["namespace"] for p in objects if p["kind"] == "NetworkPolicy"} == {
        endpoint_namespace, NAMESPACE}


def test_endpoint_namespace_equal_to_the_release_namespace_is_refused():
    result = template_result(*sets(f"config.values.llm_engine.endpoint_namespace={NAMESPACE}"))
    assert result.returncode != 0
    assert "config.values.llm_engine.endpoint_namespace" in result.stderr
    assert "must differ from the release namespace" in result.stderr


def test_pod_security_level_is_a_value_limited_to_baseline_or_restricted():
    objects = render("--set", "endpointNamespacePodSecurity=restricted")
    namespace = find(objects, "Namespace", chart_settings(objects)["LLME_ENDPOINT_NAMESPACE"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    result = template_result("--set", "endpointNamespacePodSecurity=privileged")
    assert result.returncode != 0 and "endpointNamespacePodSecurity" in result.stderr


# Pod Security Standards, baseline level (the checks that apply to what a pod spec can say).
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                         "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def baseline_violations(spec: dict) -> list[str]:
    found = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(field)
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"hostPath volume {volume['name']}")
    pod_context = spec.get("securityContext") or {}
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']}")
    contexts = [pod_context]
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        context = container.get("securityContext") or {}
        contexts.append(context)
        if context.get("privileged"):
            found.append(f"{container['name']}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"{container['name']}: capabilities {sorted(added - BASELINE_CAPABILITIES)}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            found.append(f"{container['name']}: hostPort")
        if context.get("procMount") not in (None, "Default"):
            found.append(f"{container['name']}: procMount")
    for context in contexts:
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append("seccomp Unconfined")
        if (context.get("seLinuxOptions") or {}).get("user") or (context.get("seLinuxOptions") or {}).get("role"):
            found.append("seLinuxOptions user/role")
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append("appArmor Unconfined")
    return found


def test_every_tenant_pod_the_builder_renders_passes_baseline(tenant):
    pods = [pod for obj in tenant for pod in pod_templates(obj)]
    assert len(pods) == 9  # four Deployments, leader and worker, three jobs
    for what, _, spec in pods:
        assert baseline_violations(spec) == [], what


def test_the_baseline_check_catches_what_baseline_forbids():
    spec = {"hostNetwork": True, "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "main", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                            "ports": [{"containerPort": 80, "hostPort": 80}]}]}
    assert baseline_violations(spec) == ["hostNetwork", "hostPath volume root", "main: privileged",
                                         "main: capabilities ['SYS_ADMIN']", "main: hostPort"]
