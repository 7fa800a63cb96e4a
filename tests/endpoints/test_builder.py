"""The endpoint builder and reconciler against the fake Kubernetes API over HTTP and moto's SQS."""
import json

import boto3
import pytest

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from endpoints.reconciler import prune_orphans, reconcile_once
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube
from tests.endpoints.objects import NS, create_llm, endpoint_objects


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def test_guide_llama_7b_becomes_a_gpu_deployment_service_scaler_and_pdb(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    objects = endpoint_objects(k8s_api, endpoint.id)
    group = f"llm-engine-endpoint-id-{endpoint.id.replace('_', '-')}"
    assert {kind for kind, _ in objects} == {"Deployment", "Service", "ScaledObject", "PodDisruptionBudget", "ConfigMap"}
    pod = objects[("Deployment", group)]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"main", "http-forwarder"}
    assert containers["main"]["resources"]["limits"]["nvidia.com/gpu"] in (4, "4")
    assert pod["nodeSelector"] == {"k8s.amazonaws.com/accelerator": "nvidia-tesla-a10", "node-lifecycle": "normal"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert any(m["mountPath"] == "/dev/shm" for m in containers["main"]["volumeMounts"])
    scaler = objects[("ScaledObject", group)]["spec"]
    assert (scaler["minReplicaCount"], scaler["maxReplicaCount"]) == (1, 12)
    assert objects[("Service", group)]["spec"]["ports"][0]["port"] == 80
    endpoint.refresh_from_db()
    assert endpoint.status == "UPDATE_IN_PROGRESS"  # applied, but no worker is available yet
    assert endpoint.destination == group


@pytest.mark.k8s_crds()
def test_without_keda_a_plain_hpa_is_used(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    kinds = {kind for kind, _ in endpoint_objects(k8s_api, endpoint.id)}
    assert "HorizontalPodAutoscaler" in kinds and "ScaledObject" not in kinds


@pytest.mark.k8s_crds()
def test_min_workers_zero_without_keda_is_refused_at_the_api(owner, guide_llama_7b, k8s_api):
    response = owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "min_workers": 0}, format="json")
    assert response.status_code == 400
    assert "needs KEDA" in response.json()["detail"]
    assert not ModelEndpoint.objects.exists()


def test_keda_removed_after_create_fails_the_build_with_a_reason(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, {**guide_llama_7b, "min_workers": 0})
    k8s_api.uninstall_crd("keda.sh/v1alpha1")
    get_kube().forget_discovery()
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    assert endpoint.status == "UPDATE_FAILED"
    assert "KEDA" in endpoint.status_reason
    assert endpoint_objects(k8s_api, endpoint.id) == {}


def test_sync_twice_yields_the_same_objects(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    first = endpoint_objects(k8s_api, endpoint.id)
    owner.post(f"/v1/model-endpoints/{endpoint.id}/restart")  # unrelated noise must not matter
    ModelEndpoint.objects.filter(pk=endpoint.id).update(status="UPDATE_PENDING")
    endpoint_sync(endpoint.id)
    second = endpoint_objects(k8s_api, endpoint.id)
    assert first.keys() == second.keys()
    for key in first:
        if key[0] != "Deployment":
            assert first[key].get("spec", first[key].get("data")) == second[key].get("spec", second[key].get("data"))


def test_a_failure_mid_way_converges_on_retry(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    k8s_api.fail_next(status=500, times=1, method="PATCH", path_contains="/services/")
    with pytest.raises(InfraError) as raised:
        endpoint_sync(endpoint.id)
    assert raised.value.transient
    endpoint_sync(endpoint.id)  # what the actor's retry does
    kinds = {kind for kind, _ in endpoint_objects(k8s_api, endpoint.id)}
    assert kinds == {"Deployment", "Service", "ScaledObject", "PodDisruptionBudget", "ConfigMap"}


def test_ready_only_after_the_deployment_is_available(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    reconcile_once(get_kube())
    assert owner.get("/v1/llm/model-endpoints/llama-7b").json()["status"] == "UPDATE_IN_PROGRESS"
    k8s_api.mark_deployment_available(NS, ModelEndpoint.objects.get(pk=endpoint.id).destination, replicas=1)
    reconcile_once(get_kube())
    body = owner.get("/v1/llm/model-endpoints/llama-7b").json()
    assert body["status"] == "READY"
    assert body["spec"]["deployment_state"]["available_workers"] == 1


def test_image_pull_failure_becomes_update_failed_with_the_reason(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    group = ModelEndpoint.objects.get(pk=endpoint.id).destination
    k8s_api.add_pod_for_deployment(NS, group, waiting_reason="ImagePullBackOff",
                                   waiting_message='Back-off pulling image "text-generation-inference:0.9.3"')
    reconcile_once(get_kube())
    body = owner.get("/v1/llm/model-endpoints/llama-7b").json()
    assert body["status"] == "UPDATE_FAILED"
    assert "cannot be pulled" in body["status_reason"] and "ImagePullBackOff" in body["status_reason"]
    assert body["spec"]["status_reason"] == body["status_reason"]


def test_unschedulable_pods_give_the_scheduler_message(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    group = ModelEndpoint.objects.get(pk=endpoint.id).destination
    k8s_api.add_pod_for_deployment(NS, group, scheduled=False,
                                   unschedulable_message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    reconcile_once(get_kube())
    endpoint.refresh_from_db()
    assert endpoint.status == "UPDATE_FAILED"
    assert endpoint.status_reason == "pods cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def test_crash_loop_reports_the_last_log_line(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    group = ModelEndpoint.objects.get(pk=endpoint.id).destination
    k8s_api.add_pod_for_deployment(NS, group, phase="Running", waiting_reason="CrashLoopBackOff",
                                   log="loading weights\nCUDA out of memory")
    reconcile_once(get_kube())
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.status_reason) == ("UPDATE_FAILED", "container main is crash-looping: CUDA out of memory")


def test_delete_leaves_nothing_labelled_and_removes_the_row(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    owner.delete("/v1/llm/model-endpoints/llama-7b")
    endpoint_sync(endpoint.id)
    assert endpoint_objects(k8s_api, endpoint.id) == {}
    assert not ModelEndpoint.objects.filter(pk=endpoint.id).exists()
    assert owner.get("/v1/llm/model-endpoints/llama-7b").status_code == 404


def test_without_a_cluster_the_build_fails_with_a_reason(owner, guide_llama_7b, monkeypatch, tmp_path):
    from llmengine_site.infra.kube import reset_kube_client

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    reset_kube_client()
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    assert endpoint.status == "UPDATE_FAILED"
    assert "No Kubernetes cluster is configured" in endpoint.status_reason
    owner.delete("/v1/llm/model-endpoints/llama-7b")
    endpoint_sync(endpoint.id)  # never built: deleting needs no cluster
    assert not ModelEndpoint.objects.filter(pk=endpoint.id).exists()
    reset_kube_client()


def _async_endpoint(owner, settings) -> ModelEndpoint:
    bundle = owner.post("/v2/model-bundles", {
        "name": "echo", "schema_location": "s3://bucket/schema.json",
        "flavor": {"flavor": "runnable_image", "repository": "echo", "tag": "1.0", "command": ["python", "-m", "echo"]},
    }, format="json")
    assert bundle.status_code == 200, bundle.json()
    response = owner.post("/v1/model-endpoints", {
        "name": "echo-async", "model_bundle_id": bundle.json()["model_bundle_id"], "endpoint_type": "async",
        "metadata": {}, "cpus": 1, "gpus": 0, "memory": "1Gi", "storage": "2Gi", "min_workers": 0,
        "max_workers": 3, "per_worker": 5, "labels": {"team": "ml", "product": "echo"},
        "queue_message_timeout_seconds": 600,
    }, format="json")
    assert response.status_code == 200, response.json()
    return ModelEndpoint.objects.get(name="echo-async")


def test_async_endpoint_gets_its_sqs_queue_with_policy_tags_and_a_keda_sqs_trigger(owner, settings, k8s_api, aws):
    settings.LLME_QUEUE_BACKEND = "sqs"
    endpoint = _async_endpoint(owner, settings)
    endpoint_sync(endpoint.id)
    sqs = boto3.client("sqs", region_name=settings.LLME_AWS_REGION)
    url = sqs.get_queue_url(QueueName=f"llm-engine-endpoint-id-{endpoint.id}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "600"
    assert json.loads(attributes["Policy"])["Statement"]
    assert endpoint.id in sqs.list_queue_tags(QueueUrl=url)["Tags"].values()
    objects = endpoint_objects(k8s_api, endpoint.id)
    assert "Service" not in {kind for kind, _ in objects}
    scaler = next(o for (kind, _), o in objects.items() if kind == "ScaledObject")
    assert scaler["spec"]["triggers"][0]["type"] == "aws-sqs-queue"
    endpoint.refresh_from_db()
    assert endpoint.status == "READY"  # min_workers 0: ready once applied, KEDA wakes it on demand
    assert endpoint.destination == f"llm-engine-endpoint-id-{endpoint.id}"

    owner.delete(f"/v1/model-endpoints/{endpoint.id}")
    endpoint_sync(endpoint.id)
    assert endpoint_objects(k8s_api, endpoint.id) == {}
    assert not [q for q in sqs.list_queues().get("QueueUrls", []) if endpoint.id in q]


def test_prune_removes_objects_and_queues_without_a_row(owner, guide_llama_7b, settings, k8s_api, aws):
    settings.LLME_QUEUE_BACKEND = "sqs"
    settings.LLME_PRUNE_GRACE_SECONDS = 0  # the grace period has a test of its own
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    orphan = _async_endpoint(owner, settings)
    endpoint_sync(orphan.id)
    ModelEndpoint.objects.filter(pk=orphan.id).delete()  # a row lost without teardown
    dry = prune_orphans(get_kube(), dry_run=True)
    assert any(item.startswith("queue/") for item in dry) and endpoint_objects(k8s_api, orphan.id)
    prune_orphans(get_kube())
    assert endpoint_objects(k8s_api, orphan.id) == {}
    assert endpoint_objects(k8s_api, endpoint.id)  # the endpoint with a row is untouched


def test_reconciler_resends_builds_that_were_lost(owner, guide_llama_7b, k8s_api):
    from datetime import timedelta

    from django.utils import timezone

    from endpoints.reconciler import Summary, resend_stuck

    endpoint = create_llm(owner, guide_llama_7b)  # its message was never consumed
    ModelEndpoint.objects.filter(pk=endpoint.id).update(last_updated_at=timezone.now() - timedelta(minutes=5))
    summary = Summary()
    resend_stuck(list(ModelEndpoint.objects.all()), summary)
    assert summary.resent == ["llama-7b"]


def test_render_endpoint_manifests_prints_yaml(owner, guide_llama_7b):
    import io

    from django.core.management import call_command

    create_llm(owner, guide_llama_7b)
    out = io.StringIO()
    call_command("render_endpoint_manifests", "llama-7b", "--offline", stdout=out)
    assert "kind: Deployment" in out.getvalue() and "nvidia-tesla-a10" in out.getvalue()


def test_image_cache_of_the_chart_gets_the_endpoint_images_patched_in(owner, guide_llama_7b, k8s_api, settings):
    from endpoints.manifests import render_image_cache_daemonset

    chart_daemonset = render_image_cache_daemonset("nvidia-ampere-a10", [settings.LLME_FORWARDER_IMAGE])
    chart_daemonset["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    get_kube().apply(chart_daemonset)
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    reconcile_once(get_kube())
    daemonsets = k8s_api.objects(kind="DaemonSet")
    assert len(daemonsets) == 1
    images = [c["image"] for c in daemonsets[0]["spec"]["template"]["spec"]["containers"]]
    assert images == [settings.LLME_FORWARDER_IMAGE, "text-generation-inference:0.9.3"]
    assert daemonsets[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_an_image_cache_that_cannot_be_written_does_not_stop_the_reconcile_pass(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    k8s_api.mark_deployment_available(NS, ModelEndpoint.objects.get(pk=endpoint.id).destination, replicas=1)
    k8s_api.fail_next(status=403, times=1, method="PATCH", path_contains="/daemonsets/")
    summary = reconcile_once(get_kube())
    assert summary.image_caches == []
    assert ModelEndpoint.objects.get(pk=endpoint.id).status == "READY"
