"""Redis down (docs/operations.md#when-redis-or-kubernetes-is-down): a create that committed answers
200 and its build is re-sent by the cacher; reads answer 200 with the observed fields null;
inference keeps routing."""
import asyncio
import logging
import threading
import time

import django.db
import dramatiq
import httpx
import pytest

from endpoints.builder import endpoint_sync
from endpoints.inference import routing
from endpoints.models import ModelEndpoint
from endpoints.reconciler import Summary, reconcile_once, resend_stuck
from llmengine_site.infra.kube import get_kube
from tests.fixtures_api import GUIDE_LLAMA_7B
from tests.inference.conftest import create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NS = "llm-engine"
OUTAGE_SECONDS = 15  # the "Done when" of the faults work; the test stays well under a minute


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def test_a_create_while_redis_is_down_answers_200_and_is_built_once_redis_is_back(
        owner, guide_llama_7b, k8s_api, killable_redis, caplog, settings):
    server, broker = killable_redis
    server.kill()
    with caplog.at_level(logging.WARNING):
        response = owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 200, response.content
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    skipped = [r for r in caplog.records if "build message of endpoint" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].exc_info is None  # one line, no traceback
    # A retry of the same create is refused as it would be for any existing endpoint, not a 500.
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 400

    server.start()
    summary = Summary()
    settings.LLME_RESEND_AFTER_SECONDS = 0  # the cacher's threshold, here already past
    resend_stuck(list(ModelEndpoint.objects.all()), summary)
    assert summary.resent == ["llama-7b"]
    (message,) = [m for m in broker.client.lrange("llme-dramatiq:endpoints", 0, -1)] or [None]
    assert message is not None  # the re-sent build is on the queue
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    assert endpoint.synced_version == endpoint.spec_version


def test_reads_answer_200_with_observed_fields_null_while_redis_is_down(owner, guide_llama_7b, k8s_api, killable_redis):
    server, _ = killable_redis
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    server.kill()
    listed = owner.get("/v1/llm/model-endpoints")
    assert listed.status_code == 200, listed.content
    (item,) = listed.json()["model_endpoints"]
    assert item["name"] == "llama-7b" and item["spec"]["deployment_state"]["available_workers"] is None
    one = owner.get("/v1/llm/model-endpoints/llama-7b")
    assert one.status_code == 200 and one.json()["spec"]["deployment_state"]["available_workers"] is None
    generic = owner.get("/v1/model-endpoints")
    assert generic.status_code == 200 and generic.json()["model_endpoints"][0]["id"] == endpoint.id
    got = owner.get(f"/v1/model-endpoints/{endpoint.id}")
    assert got.status_code == 200 and got.json()["deployment_state"]["available_workers"] is None


def test_inference_keeps_routing_while_redis_is_down(killable_redis, gateway, model_server):
    server, _ = killable_redis
    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B)

    def complete():
        return httpx.post(f"{gateway}/v1/llm/completions-sync", params={"model_endpoint_name": "llama-7b"},
                          json={"prompt": "hi", "max_new_tokens": 2, "temperature": 0.0},
                          auth=("test-user-id", ""), timeout=20)

    assert complete().status_code == 200
    server.kill()
    assert complete().status_code == 200  # from the gateway's in-process route map
    routing._local.clear()  # past its few seconds: the route comes from the database
    answer = complete()
    assert answer.status_code == 200, answer.text
    assert answer.json()["output"]["text"] == " w0 w1"


def test_a_known_route_outlives_its_expiry_while_redis_and_the_database_are_unreachable(
        owner, guide_llama_7b, killable_redis, monkeypatch):
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    routing._local.clear()
    known = asyncio.run(routing.llm_route("llama-7b"))
    assert known is not None and known.name == "llama-7b"
    server, _ = killable_redis
    server.kill()
    key = routing._key("llm", "llama-7b")
    routing._local[key] = (0.0, known)  # expired long ago
    lost = django.db.OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    def database_down(kind, value):
        raise lost

    monkeypatch.setattr(routing, "_load", database_down)
    assert asyncio.run(routing.llm_route("llama-7b")) == known  # routed by what the gateway knew
    assert routing._local.fresh(key, time.monotonic()) == known  # and kept for a few seconds more

    routing._local.clear()  # nothing known: the failure is the answer
    with pytest.raises(django.db.OperationalError):
        asyncio.run(routing.llm_route("llama-7b"))
    routing._local[key] = (0.0, known)
    monkeypatch.setattr(routing, "_load", lambda kind, value: 1 / 0)  # not a transient failure
    with pytest.raises(ZeroDivisionError):
        asyncio.run(routing.llm_route("llama-7b"))


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.parametrize("outage_seconds", [OUTAGE_SECONDS])
def test_a_redis_outage_during_a_burst_of_creates_and_lists(killable_redis, k8s_api, gateway, outage_seconds,
                                                           settings):
    """Redis dies two seconds into a burst of creates and lists and comes back `outage_seconds`
    later (empty, as a restarted Redis without persistence: queued builds are lost too). No read
    answers 5xx, every create answered 200 exists and no other does, and once Redis is back the
    cacher's re-send and the builder converge every endpoint."""
    server, broker = killable_redis
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    results = []  # (what, name, status)
    auth = ("test-user-id", "")

    def outage():
        time.sleep(2)
        server.kill()
        time.sleep(outage_seconds)
        server.start()

    timeline = threading.Thread(target=outage)
    timeline.start()
    with httpx.Client(base_url=gateway, auth=auth, timeout=30) as client:
        index = 0
        while timeline.is_alive() or index < 3:
            name = f"burst-{index}"
            body = {**GUIDE_LLAMA_7B, "name": name, "public_inference": False}
            results.append(("create", name, client.post("/v1/llm/model-endpoints", json=body).status_code))
            results.append(("list", "", client.get("/v1/llm/model-endpoints").status_code))
            results.append(("get", name, client.get(f"/v1/llm/model-endpoints/{name}").status_code))
            index += 1
            time.sleep(0.5)
        timeline.join()
    try:
        assert [r for r in results if r[0] != "create" and r[2] >= 500] == []
        answered = {name: status for what, name, status in results if what == "create"}
        existing = set(ModelEndpoint.objects.values_list("name", flat=True))
        assert existing == {name for name, status in answered.items() if status == 200}  # no ghost creates
        assert len(existing) >= outage_seconds  # a burst, most of it during the outage

        # The cacher's pass once Redis is back (its re-send threshold already past): builds whose
        # message was lost are re-sent.
        settings.LLME_RESEND_AFTER_SECONDS = 0
        kube = get_kube()
        reconcile_once(kube, prune=False)

        def all_built():
            return all(e.synced_version == e.spec_version for e in ModelEndpoint.objects.all())

        wait_for(all_built, 40, "every endpoint to be built")
        for endpoint in ModelEndpoint.objects.all():
            k8s_api.mark_deployment_available(NS, endpoint.destination, replicas=1)
        reconcile_once(kube, prune=False)
        assert set(ModelEndpoint.objects.values_list("status", flat=True)) == {"READY"}
    finally:
        worker.stop()


def test_the_cacher_moves_statuses_while_redis_is_down(owner, guide_llama_7b, k8s_api, killable_redis, caplog):
    server, _ = killable_redis
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    k8s_api.mark_deployment_available(NS, endpoint.destination, replicas=1)
    server.kill()
    with caplog.at_level(logging.WARNING):
        reconcile_once(get_kube(), prune=False)
    endpoint.refresh_from_db()
    assert endpoint.status == "READY"
    assert any("observed state write skipped" in r.getMessage() and r.exc_info is None for r in caplog.records)
