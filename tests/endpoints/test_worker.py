"""The builder actor on a real Dramatiq worker over Redis: enqueued after commit, retried with
backoff on a transient Kubernetes error, converged."""
import time

import dramatiq
import pytest

from endpoints.models import ModelEndpoint

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def worker():
    import endpoints.tasks  # noqa: F401  (declares the actor on the broker)

    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_create_is_built_by_the_worker_and_a_transient_failure_is_retried(api, guide_llama_7b, k8s_api, worker):
    k8s_api.fail_next(status=503, times=1, method="PATCH")
    response = api.as_user("test-user-id").post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 200

    def built():
        endpoint = ModelEndpoint.objects.get(name="llama-7b")
        return endpoint.synced_version == endpoint.spec_version

    wait_for(built)
    endpoint = ModelEndpoint.objects.get(name="llama-7b")
    assert endpoint.status == "UPDATE_IN_PROGRESS"  # applied; waiting for a worker to be available
    kinds = {o["kind"] for o in k8s_api.objects(label_selector=f"llm-engine.io/endpoint-id={endpoint.id}")}
    assert {"Deployment", "Service", "ScaledObject", "PodDisruptionBudget"} <= kinds
    config_map_applies = [r for r in k8s_api.requests if r.method == "PATCH" and "/configmaps/" in r.path]
    assert len(config_map_applies) == 2  # the first (503) apply and the retry's
