"""Prune never removes a live endpoint's objects, and the cacher re-applies objects that went
missing or were replaced (docs/operations.md#pruning-and-drift-repair). Against the fake
Kubernetes API server over HTTP."""
from datetime import datetime, timedelta, timezone

import pytest

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint
from endpoints.reconciler import prune_orphans, reconcile_once
from llmengine_site.infra.kube import KubeClient, get_kube
from tests.endpoints.objects import NS, create_llm, endpoint_objects


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def age_objects(k8s_api, endpoint_id, seconds):
    """Make the endpoint's stored objects look `seconds` old."""
    stamp = (datetime.now(timezone.utc) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with k8s_api.lock:
        for obj in k8s_api.store.values():
            if (obj["metadata"].get("labels") or {}).get("llm-engine.io/endpoint-id") == endpoint_id:
                obj["metadata"]["creationTimestamp"] = stamp


def test_an_endpoint_created_while_prune_runs_keeps_its_objects(owner, guide_llama_7b, k8s_api, monkeypatch, settings):
    settings.LLME_PRUNE_GRACE_SECONDS = 0  # the database re-check alone must spare it
    created = []
    original_list = KubeClient.list

    def list_and_race(self, *args, **kwargs):
        if not created:  # the endpoint appears between prune's reads
            created.append(create_llm(owner, guide_llama_7b))
            endpoint_sync(created[0].id)
        return original_list(self, *args, **kwargs)

    monkeypatch.setattr(KubeClient, "list", list_and_race)
    pruned = prune_orphans(get_kube())
    monkeypatch.setattr(KubeClient, "list", original_list)
    assert pruned == []
    kinds = {kind for kind, _ in endpoint_objects(k8s_api, created[0].id)}
    assert {"ConfigMap", "Deployment", "Service"} <= kinds


def test_prune_spares_objects_younger_than_the_grace_period(owner, guide_llama_7b, k8s_api, settings):
    settings.LLME_PRUNE_GRACE_SECONDS = 120
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    ModelEndpoint.objects.filter(pk=endpoint.id).delete()  # a row lost without teardown
    assert prune_orphans(get_kube()) == []
    assert endpoint_objects(k8s_api, endpoint.id)
    age_objects(k8s_api, endpoint.id, 121)
    pruned = prune_orphans(get_kube())
    assert "ConfigMap/" + f"llm-engine-endpoint-id-{endpoint.id.replace('_', '-')}-endpoint-config" in pruned
    assert endpoint_objects(k8s_api, endpoint.id) == {}


def test_a_configmap_deleted_by_hand_is_reapplied_by_the_next_cacher_pass(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    before = endpoint_objects(k8s_api, endpoint.id)
    (config_map,) = [name for kind, name in before if kind == "ConfigMap"]
    get_kube().delete("v1", "ConfigMap", config_map, NS)
    summary = reconcile_once(get_kube())
    assert summary.repaired == [endpoint.name]
    after = endpoint_objects(k8s_api, endpoint.id)
    assert set(after) == set(before)
    assert after[("ConfigMap", config_map)]["data"] == before[("ConfigMap", config_map)]["data"]
    assert reconcile_once(get_kube()).repaired == []  # converged: nothing more to do


def test_an_object_replaced_by_another_writer_is_reapplied(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)
    endpoint_sync(endpoint.id)
    objects = endpoint_objects(k8s_api, endpoint.id)
    (service_name,) = [name for kind, name in objects if kind == "Service"]
    service = objects[("Service", service_name)]
    replaced = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service_name, "namespace": NS, "labels": service["metadata"]["labels"],
                             "annotations": {"llm-engine.io/spec-hash": "someone-else"}},
                "spec": {"selector": {"app": "elsewhere"}, "ports": [{"port": 80, "targetPort": 9999}]}}
    get_kube().delete("v1", "Service", service_name, NS)
    get_kube().apply(replaced)
    summary = reconcile_once(get_kube())
    assert summary.repaired == [endpoint.name]
    repaired = endpoint_objects(k8s_api, endpoint.id)[("Service", service_name)]
    assert repaired["spec"]["selector"] == service["spec"]["selector"]
    assert repaired["metadata"]["annotations"]["llm-engine.io/spec-hash"] == \
        service["metadata"]["annotations"]["llm-engine.io/spec-hash"]


def test_an_endpoint_waiting_for_its_build_is_not_repaired(owner, guide_llama_7b, k8s_api):
    endpoint = create_llm(owner, guide_llama_7b)  # accepted, never built: nothing to repair
    assert reconcile_once(get_kube()).repaired == []
    assert endpoint_objects(k8s_api, endpoint.id) == {}
