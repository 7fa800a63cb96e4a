"""The objects the self-hosting guide names, what each process runs and reads."""
import json

import pytest

from tests.chart.helm import containers, find, render

CONTROL_PLANE = {
    "llm-engine": [
        "gunicorn", "llmengine_site.asgi:application", "-k", "uvicorn_worker.UvicornWorker",
        "-b", "0.0.0.0:5000", "--workers", "2", "--timeout", "120",
    ],
    "llm-engine-endpoint-builder": ["python", "manage.py", "rundramatiq", "--processes", "1", "--threads", "4"],
    "llm-engine-cacher": ["python", "manage.py", "run_cacher"],
}
SETTINGS = [
    "REDIS_URL", "LLME_AUTH_MODE", "LLME_ENV", "LLME_CLUSTER_NAME", "LLME_DNS_HOST_DOMAIN", "LLME_AWS_REGION",
    "AWS_DEFAULT_REGION", "LLME_AWS_ACCOUNT_ID", "LLME_DOCKER_REPO_PREFIX", "LLME_S3_BUCKET",
    "LLME_ENDPOINT_NAMESPACE", "LLME_FINE_TUNE_REPOSITORY", "LLME_REGISTRY_CHECK", "LLME_QUEUE_BACKEND",
    "LLME_FORWARDER_IMAGE", "LLME_GATEWAY_URL", "LLME_GPU_NODE_LABELS", "LLME_FRAMEWORK_REPOSITORIES",
    "DD_TRACE_ENABLED", "AWS_PROFILE", "AWS_CONFIG_FILE", "LLME_REQUIRE_SECRET_KEY", "LLME_ALLOWED_HOSTS",
    "LLME_TLS_TERMINATED",
]
ROLE_ARN = "arn:aws:iam::000000000000:role/llm-engine"


@pytest.fixture(scope="module")
def objects():
    return render("--api-versions", "keda.sh/v1alpha1")


@pytest.fixture(scope="module")
def settings(objects):
    return find(objects, "ConfigMap", "llm-engine-config")["data"]


def test_guide_workload_names_exist(objects):
    deployments = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Deployment"}
    assert deployments == set(CONTROL_PLANE)
    daemonsets = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "DaemonSet"}
    assert {"llm-engine-image-cache-a10", "llm-engine-image-cache-t4", "llm-engine-image-cache-a100",
            "llm-engine-image-cache-h100"} == daemonsets
    find(objects, "ServiceAccount", "llm-engine")
    find(objects, "Service", "llm-engine")


def test_gateway_runs_two_replicas_on_port_5000_behind_the_service(objects):
    gateway = find(objects, "Deployment", "llm-engine")
    assert gateway["spec"]["replicas"] == 2
    (container,) = containers(gateway)
    assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    host = [{"name": "Host", "value": "localhost"}]  # always in LLME_ALLOWED_HOSTS
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "httpHeaders": host}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "httpHeaders": host}
    service = find(objects, "Service", "llm-engine")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 80 and service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("name", sorted(CONTROL_PLANE))
def test_each_process_runs_its_command_with_the_image_and_tag(objects, name):
    (container,) = containers(find(objects, "Deployment", name))
    assert container["command"] == CONTROL_PLANE[name]
    assert container["image"] == "000000000000.dkr.ecr.us-west-2.amazonaws.com/llm-engine:1.0.0"
    assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("name", sorted(CONTROL_PLANE))
def test_each_process_reads_the_database_url_from_the_operator_secret(objects, name):
    (container,) = containers(find(objects, "Deployment", name))
    env = {item["name"]: item for item in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "llm-engine-database-credentials", "key": "database_url"}
    assert env["SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "llm-engine-django", "key": "secret_key"}
    assert container["envFrom"] == [{"configMapRef": {"name": "llm-engine-config"}}]


def test_the_settings_config_map_holds_every_variable_the_processes_read(settings):
    assert sorted(set(SETTINGS) - set(settings)) == []
    assert all(isinstance(value, str) for value in settings.values())


def test_settings_follow_the_guide_values(settings):
    assert settings["LLME_AUTH_MODE"] == "trust-username"
    assert settings["LLME_ENV"] == "production"
    assert settings["LLME_ENDPOINT_NAMESPACE"] == "llm-engine-endpoints"
    assert settings["REDIS_URL"] == "redis://llm-engine.xxxxxx.0001.usw2.cache.amazonaws.com:6379/0"
    assert settings["LLME_AWS_REGION"] == settings["AWS_DEFAULT_REGION"] == "us-west-2"
    assert settings["LLME_AWS_ACCOUNT_ID"] == "000000000000"
    assert settings["LLME_DOCKER_REPO_PREFIX"] == "000000000000.dkr.ecr.us-west-2.amazonaws.com"
    assert settings["LLME_S3_BUCKET"] == "llm-engine-assets"
    assert settings["LLME_FINE_TUNE_REPOSITORY"] == "s3://llm-engine-assets/fine-tuned-weights"
    assert settings["LLME_REGISTRY_CHECK"] == "true"
    assert settings["LLME_QUEUE_BACKEND"] == "sqs"
    assert settings["LLME_REQUIRE_SECRET_KEY"] == "true"
    assert settings["DD_TRACE_ENABLED"] == "false"
    assert settings["LLME_FORWARDER_IMAGE"] == "000000000000.dkr.ecr.us-west-2.amazonaws.com/llm-engine:1.0.0"
    assert settings["LLME_GATEWAY_URL"] == "http://llm-engine.llm-engine.svc.cluster.local:80"
    assert settings["AWS_PROFILE"] == "default"
    assert settings["AWS_CONFIG_FILE"] == "/opt/.aws/config"


def test_gpu_labels_and_framework_repositories_are_json_maps(settings):
    labels = json.loads(settings["LLME_GPU_NODE_LABELS"])
    assert labels["nvidia-ampere-a10"] == "nvidia-tesla-a10"
    assert labels["nvidia-tesla-t4"] == "nvidia-tesla-t4"
    assert labels["nvidia-ampere-a100"] == "nvidia-tesla-a100"
    assert labels["nvidia-ampere-a100e"] == "nvidia-tesla-a100e"
    repositories = json.loads(settings["LLME_FRAMEWORK_REPOSITORIES"])
    assert repositories["vllm"] == "vllm"
    assert repositories["text_generation_inference"] == "text-generation-inference"


def test_redis_url_is_built_from_redis_host_when_no_url_is_given():
    objects = render("--set", "config.values.llm_engine.cache_redis_url=")
    settings = find(objects, "ConfigMap", "llm-engine-config")["data"]
    assert settings["REDIS_URL"] == "redis://llm-engine.xxxxxx.0001.usw2.cache.amazonaws.com:6379/0"


def test_an_unquoted_account_id_keeps_its_twelve_digits():
    objects = render("--set", "config.values.infra.ml_account_id=12345678901")
    assert find(objects, "ConfigMap", "llm-engine-config")["data"]["LLME_AWS_ACCOUNT_ID"] == "012345678901"


def test_service_account_carries_the_irsa_role(objects):
    account = find(objects, "ServiceAccount", "llm-engine")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE_ARN
    for name in CONTROL_PLANE:
        assert find(objects, "Deployment", name)["spec"]["template"]["spec"]["serviceAccountName"] == "llm-engine"


def test_aws_config_map_has_a_web_identity_profile_and_is_mounted(objects):
    config = find(objects, "ConfigMap", "llm-engine-aws-config")["data"]["config"]
    assert "[default]" in config and f"role_arn = {ROLE_ARN}" in config
    assert "web_identity_token_file = /var/run/secrets/eks.amazonaws.com/serviceaccount/token" in config
    (container,) = containers(find(objects, "Deployment", "llm-engine"))
    assert {"name": "aws-config", "mountPath": "/opt/.aws", "readOnly": True} in container["volumeMounts"]


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(objects):
    (job,) = [obj for obj in objects if obj["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = containers(job)
    assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
    env = {item["name"]: item for item in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "llm-engine-database-credentials", "key": "database_url"}
    assert env["LLME_ENDPOINT_NAMESPACE"]["value"] == "llm-engine-endpoints"


def test_only_the_control_plane_and_migrations_see_the_database_secret(objects):
    readers = {
        (obj["kind"], obj["metadata"]["name"]) for obj in objects
        if "llm-engine-database-credentials" in json.dumps(obj)
    }
    assert readers == {("Deployment", name) for name in CONTROL_PLANE} | {("Job", "llm-engine-migrations-1")}


def test_image_cache_daemonsets_target_gpu_nodes_and_carry_the_cacher_labels(objects):
    cache = find(objects, "DaemonSet", "llm-engine-image-cache-a10")
    assert cache["metadata"]["labels"]["llm-engine.io/image-cache"] == "true"
    assert cache["metadata"]["labels"]["llm-engine.io/gpu-type"] == "nvidia-ampere-a10"
    assert cache["spec"]["selector"] == {"matchLabels": {"app": "llm-engine-image-cache-a10"}}
    assert cache["spec"]["template"]["metadata"]["labels"]["app"] == "llm-engine-image-cache-a10"
    pod = cache["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"k8s.amazonaws.com/accelerator": "nvidia-tesla-a10", "node-lifecycle": "normal"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    images = [container["image"] for container in pod["containers"]]
    assert images == [
        "000000000000.dkr.ecr.us-west-2.amazonaws.com/llm-engine:1.0.0",
        "000000000000.dkr.ecr.us-west-2.amazonaws.com/text-generation-inference:0.9.3",
    ]
    t4 = find(objects, "DaemonSet", "llm-engine-image-cache-t4")["spec"]["template"]["spec"]
    assert t4["nodeSelector"]["k8s.amazonaws.com/accelerator"] == "nvidia-tesla-t4"


def test_the_set_of_image_caches_is_a_value():
    objects = render("--set-json", 'imageCache.gpuTypes=[{"name":"a10","gpuType":"nvidia-ampere-a10"}]')
    assert [obj["metadata"]["name"] for obj in objects if obj["kind"] == "DaemonSet"] == ["llm-engine-image-cache-a10"]


def test_gateway_has_a_disruption_budget_and_optionally_an_hpa():
    objects = render("--set", "autoscaling.horizontal.enabled=true")
    assert find(objects, "PodDisruptionBudget", "llm-engine")["spec"]["minAvailable"] == 1
    hpa = find(objects, "HorizontalPodAutoscaler", "llm-engine")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm-engine"}
    assert hpa["spec"]["minReplicas"] == 2
    # The HPA owns the replica count; a fixed one would fight it on every upgrade.
    assert "replicas" not in find(objects, "Deployment", "llm-engine")["spec"]


def test_chart_creates_the_high_priority_class_and_endpoint_namespace(objects):
    assert find(objects, "PriorityClass", "llm-engine-high-priority")["value"] == 100000
    namespace = find(objects, "Namespace", "llm-engine-endpoints")
    assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_endpoint_pods_get_their_own_service_account_without_the_control_plane_role(objects):
    account = find(objects, "ServiceAccount", "llm-engine-endpoint")
    assert account["metadata"]["namespace"] == "llm-engine-endpoints"
    assert "eks.amazonaws.com/role-arn" not in account["metadata"].get("annotations", {})
    assert account["automountServiceAccountToken"] is False


def test_service_template_values_reach_the_builder(settings):
    assert json.loads(settings["LLME_ENDPOINT_SECURITY_CONTEXT"]) == {"capabilities": {"drop": ["ALL"]}}
    assert settings["LLME_ENDPOINT_MOUNT_INFRA_CONFIG"] == "true"


def test_values_yaml_defaults_to_api_key_authentication():
    from tests.chart.helm import REQUIRED_SETS, sets

    objects = render(*sets(*REQUIRED_SETS), values=None)
    assert find(objects, "ConfigMap", "llm-engine-config")["data"]["LLME_AUTH_MODE"] == "api-key"


def test_optional_crd_objects_are_off_by_default_and_switch_on(objects):
    kinds = {obj["kind"] for obj in objects}
    assert not kinds & {"VirtualService", "DestinationRule", "VerticalPodAutoscaler", "ServiceMonitor"}
    enabled = render(
        "--set", "istio.virtualService.enabled=true", "--set", "istio.virtualService.hosts[0]=llm.example.com",
        "--set", "istio.destinationRule.enabled=true", "--set", "autoscaling.vertical.enabled=true",
        "--set", "metrics.serviceMonitor.enabled=true",
    )
    counts = {kind: sum(obj["kind"] == kind for obj in enabled)
              for kind in ("VirtualService", "DestinationRule", "VerticalPodAutoscaler", "ServiceMonitor")}
    assert counts == {"VirtualService": 1, "DestinationRule": 1, "VerticalPodAutoscaler": 3, "ServiceMonitor": 1}
