"""Expected transient errors log one line each, with the attempt number; no traceback
(docs/operations.md#when-redis-or-kubernetes-is-down)."""
import logging
import time

import dramatiq
import pytest

from endpoints.models import ModelEndpoint
from llmengine_site.actors import MAX_RETRIES, TransientInfraError, retry_transient

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BURST = 3


@pytest.fixture
def fast_worker(monkeypatch):
    from endpoints.tasks import sync_endpoint  # noqa: PLC0415  (declared on the broker once apps are ready)

    monkeypatch.setitem(sync_endpoint.options, "min_backoff", 50)  # the retries' backoff, not their logs, is slow
    monkeypatch.setitem(sync_endpoint.options, "max_backoff", 200)
    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=1, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


def test_a_kubernetes_500_burst_during_a_build_logs_one_line_per_attempt(api, guide_llama_7b, k8s_api, fast_worker,
                                                                         caplog):
    k8s_api.fail_next(status=500, times=BURST, method="PATCH")
    with caplog.at_level(logging.INFO):
        assert api.as_user("test-user-id").post("/v1/llm/model-endpoints", guide_llama_7b,
                                                 format="json").status_code == 200
        deadline = time.monotonic() + 30
        while True:
            endpoint = ModelEndpoint.objects.get(name="llama-7b")
            if endpoint.synced_version == endpoint.spec_version:
                break
            assert time.monotonic() < deadline, "the build did not converge"
            time.sleep(0.1)
    retries = [r for r in caplog.records if "will retry" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING] * BURST
    assert [f"attempt {n} failed" in r.getMessage() for n, r in enumerate(retries, 1)] == [True] * BURST
    assert all(endpoint.id in r.getMessage() and "injected failure" in r.getMessage() for r in retries)
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_transient_retries_stop_after_max_retries_and_the_cacher_takes_over():
    failure = TransientInfraError("Kubernetes 503")
    assert retry_transient(0, failure) and retry_transient(MAX_RETRIES - 1, failure)
    assert not retry_transient(MAX_RETRIES, failure)  # dropped: the cacher re-sends while the row is behind
    assert not retry_transient(0, ValueError("permanent"))
