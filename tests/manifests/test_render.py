"""Kubernetes objects per endpoint (docs/design.md#kubernetes-objects-per-endpoint): what the cluster gets."""
import dataclasses
import json

import pytest

from endpoints import redis_acl, report_tokens
from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.manifests import bundle_spec_from, endpoint_object_kinds, endpoint_selector, render_endpoint
from tests.manifests.factories import (
    ENDPOINT_ID,
    GROUP,
    QUEUE_URL,
    args_of,
    async_spec,
    by_kind,
    containers,
    cpu_sync_spec,
    guide_llama_7b_spec,
    multi_node_spec,
)
from tests.manifests.validation import assert_valid


# --- the guide's request -------------------------------------------------------------------------


def test_guide_llama_7b_tgi_request_gets_four_a10_gpus():
    objects = by_kind(render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False))
    deployment = objects["Deployment"]
    assert deployment["metadata"]["name"] == GROUP and deployment["metadata"]["namespace"] == "llm-engine"
    pod = deployment["spec"]["template"]["spec"]
    assert set(containers(deployment)) == {"main", "http-forwarder"}
    main = containers(deployment)["main"]
    expected = {"cpu": "32", "memory": "40Gi", "ephemeral-storage": "40Gi", "nvidia.com/gpu": "4"}
    assert main["resources"] == {"requests": expected, "limits": expected}
    assert pod["nodeSelector"] == {"node-lifecycle": "normal", "k8s.amazonaws.com/accelerator": "nvidia-tesla-a10"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in main["volumeMounts"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "40Gi"}} in pod["volumes"]
    assert main["image"] == "text-generation-inference:0.9.3"
    assert main["ports"] == [{"name": "http", "containerPort": 5005, "protocol": "TCP"}]
    assert main["readinessProbe"]["httpGet"] == {"path": "/health", "port": 5005}
    assert "--num-shard 4" in main["command"][2]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert pod["terminationGracePeriodSeconds"] == 600

    service = objects["Service"]
    assert service["metadata"]["name"] == GROUP
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 5000, "protocol": "TCP"}]
    assert service["spec"]["selector"] == {"app": GROUP}

    scaled = objects["ScaledObject"]["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 12)
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "metrics-api" and trigger["metadata"]["targetValue"] == "1"
    assert trigger["metadata"]["valueLocation"] == "in_flight"
    assert trigger["metadata"]["url"] == (
        f"http://llm-engine.llm-engine.svc.cluster.local:80/v1/internal/endpoints/{ENDPOINT_ID}/autoscaling-metrics")

    assert objects["PodDisruptionBudget"]["spec"] == {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": GROUP}}}
    assert objects["ConfigMap"]["metadata"]["name"] == f"{GROUP}-endpoint-config"


def test_guide_llama_7b_without_keda_gets_a_cpu_hpa_from_1_to_12():
    objects = by_kind(render_endpoint(guide_llama_7b_spec(), keda_available=False, lws_available=False))
    assert "ScaledObject" not in objects
    hpa = objects["HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 12)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": GROUP}


def test_forwarder_relays_http_to_the_model_with_the_bundle_routes():
    deployment = by_kind(render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False))["Deployment"]
    forwarder = containers(deployment)["http-forwarder"]
    assert forwarder["command"] == ["python", "-m", "endpoints.forwarder"]
    args = args_of(forwarder)
    assert args["--mode"] == ["http"] and args["--upstream"] == ["http://localhost:5005"]
    assert args["--predict-route"] == ["/generate"] and args["--stream-route"] == ["/generate_stream"]
    assert args["--healthcheck-route"] == ["/health"] and args["--max-concurrency"] == ["250"]
    assert forwarder["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    assert forwarder["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 5000}
    assert {"name": "endpoint-config", "mountPath": "/workspace/endpoint_config", "readOnly": True} in forwarder["volumeMounts"]
    assert forwarder["resources"]["requests"]["cpu"] == "100m"


def test_endpoint_config_map_tells_the_forwarder_routes_hooks_and_concurrency():
    spec = guide_llama_7b_spec(post_inference_hooks=("callback",), default_callback_url="https://example.com/cb")
    config_map = by_kind(render_endpoint(spec, keda_available=True, lws_available=False))["ConfigMap"]
    config = json.loads(config_map["data"]["config.json"])
    assert config["endpoint_id"] == ENDPOINT_ID and config["endpoint_type"] == "streaming"
    assert config["routes"]["predict"] == "/generate" and config["post_inference_hooks"] == ["callback"]
    assert config["default_callback_url"] == "https://example.com/cb" and config["queue"] is None
    assert config["concurrency"] == {"concurrent_requests_per_worker": 250, "max_concurrency": 250}


# --- labels and names ----------------------------------------------------------------------------


def test_every_object_carries_the_endpoint_labels_and_spec_version():
    spec = guide_llama_7b_spec(labels={"team": "ml", "product": "chat", "other": "x"})
    for obj in render_endpoint(spec, keda_available=True, lws_available=False):
        labels, annotations = obj["metadata"]["labels"], obj["metadata"]["annotations"]
        assert labels["app.kubernetes.io/managed-by"] == "llm-engine"
        assert labels["llm-engine.io/endpoint-id"] == ENDPOINT_ID
        assert labels["llm-engine.io/endpoint-name"] == "llama-7b"
        assert labels["llm-engine.io/owner"] == "test_user_id"
        assert (labels["team"], labels["product"]) == ("ml", "chat") and "other" not in labels
        assert annotations["llm-engine.io/spec-version"] == "3"
    assert endpoint_selector(ENDPOINT_ID) == f"app.kubernetes.io/managed-by=llm-engine,llm-engine.io/endpoint-id={ENDPOINT_ID}"


def test_a_name_that_is_not_a_label_value_gets_a_safe_label_and_the_exact_name_in_an_annotation():
    name = "llama-2-7b.my fine tune/v2 " + "x" * 60
    deployment = by_kind(render_endpoint(guide_llama_7b_spec(name=name), keda_available=True, lws_available=False))["Deployment"]
    label = deployment["metadata"]["labels"]["llm-engine.io/endpoint-name"]
    assert label != name and len(label) <= 63 and label.startswith("llama-2-7b.my-fine-tune-v2")
    assert deployment["metadata"]["annotations"]["llm-engine.io/endpoint-name"] == name
    assert_valid(deployment)


def test_spec_version_does_not_touch_the_pod_template_so_a_bump_alone_never_restarts_pods():
    def template(version):
        objects = by_kind(render_endpoint(guide_llama_7b_spec(spec_version=version), keda_available=True, lws_available=False))
        return objects["Deployment"]["spec"]["template"]
    assert template(1) == template(2)


def test_rendering_is_pure_equal_specs_give_equal_objects():
    first = render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False)
    assert first == render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False)


# --- replicas, priority, scale-from-zero ---------------------------------------------------------


def test_update_without_replicas_leaves_the_count_to_the_autoscaler():
    objects = by_kind(render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False,
                                      include_replicas=False))
    assert "replicas" not in objects["Deployment"]["spec"]


def test_high_priority_endpoints_get_the_high_priority_class_and_cpu_pods_no_gpu_scheduling():
    deployment = by_kind(render_endpoint(cpu_sync_spec(), keda_available=True, lws_available=False))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "llm-engine-high-priority"
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in containers(deployment)["main"]["resources"]["limits"]


def test_min_workers_zero_scales_from_zero_with_keda():
    scaled = by_kind(render_endpoint(guide_llama_7b_spec(min_workers=0), keda_available=True, lws_available=False))
    spec = scaled["ScaledObject"]["spec"]
    assert spec["minReplicaCount"] == 0 and spec["triggers"][0]["metadata"]["activationTargetValue"] == "0"


def test_min_workers_zero_without_keda_is_refused():
    with pytest.raises(ValueError, match="^min_workers 0 needs KEDA, which is not installed in the cluster$"):
        render_endpoint(guide_llama_7b_spec(min_workers=0), keda_available=False, lws_available=False)


def test_gpu_type_without_a_node_label_mapping_is_refused_naming_the_type_and_setting(settings):
    settings.LLME_GPU_NODE_LABELS = {"nvidia-ampere-a10": "nvidia-tesla-a10"}
    with pytest.raises(ValueError, match=r"gpu_type 'nvidia-hopper-h100' has no node label mapping in LLME_GPU_NODE_LABELS"):
        render_endpoint(guide_llama_7b_spec(gpu_type="nvidia-hopper-h100"), keda_available=True, lws_available=False)


def test_gpus_without_gpu_type_is_refused():
    with pytest.raises(ValueError, match="gpu_type is required"):
        render_endpoint(guide_llama_7b_spec(gpu_type=None), keda_available=True, lws_available=False)


# --- async ---------------------------------------------------------------------------------------


def test_async_endpoint_consumes_its_queue_scales_on_sqs_depth_and_has_no_service():
    objects = by_kind(render_endpoint(async_spec(), keda_available=True, lws_available=False))
    assert "Service" not in objects
    deployment = objects["Deployment"]
    args = args_of(containers(deployment)["http-forwarder"])
    assert args["--mode"] == ["queue"] and args["--queue-name"] == [f"llm-engine-endpoint-id-{ENDPOINT_ID}"]
    assert args["--queue-url"] == [QUEUE_URL] and args["--queue-backend"] == ["sqs"]
    assert args["--concurrency"] == ["4"] and args["--result-ttl-seconds"] == ["3600"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 1800
    trigger = objects["ScaledObject"]["spec"]["triggers"][0]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"] == {"queueURL": QUEUE_URL, "queueLength": "10", "activationQueueLength": "0",
                                   "awsRegion": "us-west-2", "identityOwner": "operator"}
    assert "authenticationRef" not in trigger
    assert objects["ScaledObject"]["spec"]["minReplicaCount"] == 0


def test_async_endpoint_on_sqs_reports_to_the_gateway_with_its_token_and_gets_no_redis(settings):
    settings.REDIS_URL = "rediss://:s3cret@redis.internal:6380/2"
    settings.LLME_GATEWAY_URL = "http://llm-engine.llm-engine.svc.cluster.local:80"
    objects = by_kind(render_endpoint(async_spec(), keda_available=True, lws_available=False))
    secret_name = f"llm-engine-endpoint-id-{ENDPOINT_ID.replace('_', '-')}-forwarder"
    assert objects["Secret"]["metadata"]["name"] == secret_name
    assert objects["Secret"]["stringData"] == {"LLME_TASK_REPORT_TOKEN": report_tokens.token(ENDPOINT_ID)}
    env = {item["name"]: item for item in containers(objects["Deployment"])["http-forwarder"]["env"]}
    assert env["LLME_GATEWAY_URL"]["value"] == settings.LLME_GATEWAY_URL
    assert env["LLME_TASK_REPORT_TOKEN"] == {"name": "LLME_TASK_REPORT_TOKEN", "valueFrom": {
        "secretKeyRef": {"name": secret_name, "key": "LLME_TASK_REPORT_TOKEN"}}}
    assert not {"REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD", "LLME_QUEUE_REDIS_URL"} & set(env)
    assert "redis" not in json.dumps(objects).lower()  # no Redis address, user or trigger at all
    assert report_tokens.token(ENDPOINT_ID) not in json.dumps(objects["Deployment"])


def test_async_endpoint_on_redis_scales_on_the_list_length(settings):
    settings.REDIS_URL = "rediss://:s3cret@redis.internal:6380/2"
    objects = by_kind(render_endpoint(async_spec(queue_backend="redis", queue_url=None),
                                      keda_available=True, lws_available=False))
    trigger = objects["ScaledObject"]["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    assert trigger["metadata"] == {
        "address": "redis.internal:6380", "listName": f"llme:queue:llm-engine-endpoint-id-{ENDPOINT_ID}:pending", "listLength": "10",
        "activationListLength": "0", "databaseIndex": "2", "enableTLS": "true",
        "usernameFromEnv": "REDIS_USERNAME", "passwordFromEnv": "REDIS_PASSWORD",
    }
    env = {item["name"]: item for item in containers(objects["Deployment"])["http-forwarder"]["env"]}
    secret_name = f"llm-engine-endpoint-id-{ENDPOINT_ID.replace('_', '-')}-forwarder"
    assert env["REDIS_PASSWORD"] == {"name": "REDIS_PASSWORD",
                                     "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "REDIS_PASSWORD"}}}
    assert "s3cret" not in json.dumps(objects["Deployment"])  # credentials stay out of the pod spec
    assert objects["Secret"]["metadata"]["name"] == secret_name
    # The endpoint's own Redis user (endpoints/redis_acl.py), never the control plane's password.
    user, password = redis_acl.username(ENDPOINT_ID), redis_acl.password(ENDPOINT_ID)
    assert objects["Secret"]["stringData"] == {
        "REDIS_URL": f"rediss://{user}:{password}@redis.internal:6380/2",
        "REDIS_USERNAME": user, "REDIS_PASSWORD": password}
    assert "s3cret" not in json.dumps(objects)
    assert objects["ScaledObject"]["spec"]["scaleTargetRef"]["envSourceContainerName"] == "http-forwarder"
    for obj in objects.values():
        assert_valid(obj)


def test_async_endpoint_on_sqs_without_queue_url_is_refused():
    with pytest.raises(ValueError, match="queue_url"):
        render_endpoint(async_spec(queue_url=None), keda_available=True, lws_available=False)


# --- multi-node, VPA -----------------------------------------------------------------------------


def test_multi_node_vllm_gets_a_leader_worker_set_and_a_leader_service_only():
    objects = by_kind(render_endpoint(multi_node_spec(), keda_available=True, lws_available=True))
    assert set(objects) == {"ConfigMap", "LeaderWorkerSet", "Service"}
    lws = objects["LeaderWorkerSet"]
    assert lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1" and lws["metadata"]["name"] == GROUP
    template = lws["spec"]["leaderWorkerTemplate"]
    assert (lws["spec"]["replicas"], template["size"]) == (1, 2)
    leader = {c["name"]: c for c in template["leaderTemplate"]["spec"]["containers"]}
    worker = {c["name"]: c for c in template["workerTemplate"]["spec"]["containers"]}
    assert set(leader) == {"main", "http-forwarder"} and set(worker) == {"main"}
    assert "ray start --address" in worker["main"]["command"][2]
    leader_env = [item["name"] for item in leader["main"]["env"]]
    # Kubernetes expands $(K8S_...) only for variables defined earlier in the list.
    assert leader_env.index("K8S_LWS_CLUSTER_SIZE") < leader_env.index("RAY_CLUSTER_SIZE")
    assert leader["main"]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    service = objects["Service"]
    assert service["metadata"]["name"] == f"{GROUP}-leader"
    assert service["spec"]["selector"] == {"app": GROUP, "llm-engine.io/role": "leader"}
    assert template["leaderTemplate"]["metadata"]["labels"]["llm-engine.io/role"] == "leader"


def test_multi_node_without_the_lws_crd_is_refused():
    with pytest.raises(ValueError, match="multi-node endpoints need the LeaderWorkerSet CRD"):
        render_endpoint(multi_node_spec(), keda_available=True, lws_available=False)


def test_multi_node_endpoints_do_not_autoscale():
    with pytest.raises(ValueError, match="min_workers equal to max_workers"):
        render_endpoint(multi_node_spec(max_workers=3), keda_available=True, lws_available=True)


def test_vpa_only_when_asked_and_the_crd_exists_and_keda_drives_scaling():
    spec = guide_llama_7b_spec(optimize_costs=True)
    assert "VerticalPodAutoscaler" not in by_kind(render_endpoint(spec, keda_available=True, lws_available=False))
    with_vpa = by_kind(render_endpoint(spec, keda_available=True, lws_available=False, vpa_available=True))
    policies = with_vpa["VerticalPodAutoscaler"]["spec"]["resourcePolicy"]["containerPolicies"]
    assert policies[0]["maxAllowed"] == {"cpu": "32", "memory": "40Gi"}
    without_keda = by_kind(render_endpoint(spec, keda_available=False, lws_available=False, vpa_available=True))
    assert "VerticalPodAutoscaler" not in without_keda


def test_endpoint_object_kinds_cover_everything_rendered():
    kinds = set(endpoint_object_kinds())
    specs = [guide_llama_7b_spec(optimize_costs=True), async_spec(), multi_node_spec(), cpu_sync_spec()]
    for spec in specs:
        for keda in (True, False):
            try:
                objects = render_endpoint(spec, keda_available=keda, lws_available=True, vpa_available=True)
            except ValueError:
                continue
            assert {(obj["apiVersion"], obj["kind"]) for obj in objects} <= kinds


# --- schemas: every object we can generate -------------------------------------------------------


def _all_variants():
    for endpoint_type in ("sync", "streaming"):
        yield f"tgi-{endpoint_type}-keda", guide_llama_7b_spec(endpoint_type=endpoint_type), True
        yield f"tgi-{endpoint_type}-hpa", guide_llama_7b_spec(endpoint_type=endpoint_type), False
    yield "vpa", guide_llama_7b_spec(optimize_costs=True, min_workers=0), True
    yield "async-sqs-keda", async_spec(), True
    yield "async-sqs-hpa", async_spec(min_workers=1), False
    yield "cpu-sync-high-priority", cpu_sync_spec(service_account_name="llm-engine-endpoints"), True
    yield "multi-node", multi_node_spec(), True
    for framework, extra in [("vllm", {"chat_template_override": "{{ x }}", "framework_args": {"max_model_len": 8}}),
                             ("sglang", {}), ("lightllm", {}), ("deepspeed", {"num_shards": 2}),
                             ("tensorrt_llm", {"checkpoint_path": "s3://b/engines"})]:
        inp = dict(model_name="llama-2-7b", framework=framework, image_tag="1", num_shards=1, quantize=None,
                   checkpoint_path=None, hf_repo="meta-llama/Llama-2-7b-hf", chat_template_override=None,
                   framework_args={})
        inp.update(extra)
        bundle = bundle_spec_from(llm_bundle(LLMServingInput(**inp)), "streaming")
        yield f"framework-{framework}", guide_llama_7b_spec(bundle=bundle, gpus=1), True


@pytest.mark.parametrize("keda", [True, False], ids=["keda", "no-keda"])
@pytest.mark.parametrize("variant", list(_all_variants()), ids=lambda variant: variant[0])
def test_every_generated_object_passes_strict_schema_validation(variant, keda):
    _, spec, _ = variant
    if not keda and spec.min_workers == 0:
        spec = dataclasses.replace(spec, min_workers=1)
    objects = render_endpoint(spec, keda_available=keda, lws_available=True, vpa_available=True)
    for obj in objects:
        assert_valid(obj)


def test_keda_scaled_objects_pass_kedas_crd_schema():
    from tests.schemas import validate_keda

    for spec in (guide_llama_7b_spec(min_workers=0), async_spec()):
        scaled = by_kind(render_endpoint(spec, keda_available=True, lws_available=False))["ScaledObject"]
        validate_keda(scaled)


# --- the chart's serviceTemplate settings -------------------------------------------------------


def test_chart_service_template_settings_shape_the_main_container(settings):
    settings.LLME_ENDPOINT_SECURITY_CONTEXT = {"capabilities": {"drop": ["NET_RAW"]}}
    settings.LLME_ENDPOINT_MOUNT_INFRA_CONFIG = True
    settings.LLME_ENDPOINT_SERVICE_ACCOUNT = "llm-engine-endpoints"
    deployment = by_kind(render_endpoint(guide_llama_7b_spec(), keda_available=True, lws_available=False))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    main = containers(deployment)["main"]
    assert main["securityContext"] == {"capabilities": {"drop": ["NET_RAW"]}}
    assert {"name": "infra-config", "mountPath": "/infra-config", "readOnly": True} in main["volumeMounts"]
    assert {"name": "infra-config", "configMap": {"name": "llm-engine-infra-config"}} in pod["volumes"]
    assert pod["serviceAccountName"] == "llm-engine-endpoints"
    assert_valid(deployment)


def test_sqs_trigger_uses_the_charts_trigger_authentication_when_configured(settings):
    settings.LLME_KEDA_TRIGGER_AUTHENTICATION = "llm-engine-aws-sqs"
    scaled = by_kind(render_endpoint(async_spec(), keda_available=True, lws_available=False))["ScaledObject"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["authenticationRef"] == {"name": "llm-engine-aws-sqs"}
    assert "identityOwner" not in trigger["metadata"]
    assert_valid(scaled)
