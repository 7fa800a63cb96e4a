"""Inference on an endpoint that cannot answer: at once (with its status and reason) when nothing
is on its way, after the deadline (saying what it waited for) when a build, rollout or
scale-from-zero is."""
import threading
import time

import httpx
import pytest
from llmengine import Completion
from llmengine.errors import ServerError
from openai import APIStatusError, OpenAI

from tests.fixtures_api import GUIDE_LLAMA_7B
from tests.inference.conftest import VLLM_BODY, create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

IMAGE_REASON = "image llm-engine/text-generation-inference:0.9.3 not found in registry"
BODY = {"prompt": "x", "max_new_tokens": 3, "temperature": 0.1}


def _endpoint(name: str):
    from endpoints.models import ModelEndpoint

    return ModelEndpoint.objects.get(name=name)


def _set_status(name: str, status: str, reason: str = "") -> None:
    from endpoints.status import endpoint_record_status

    assert endpoint_record_status(_endpoint(name).id, None, status, reason)


def _observe(name: str, **state) -> None:
    from endpoints.infra_state import write_states

    write_states({_endpoint(name).id: {"replicas": 0, "available_workers": 0, "unavailable_workers": 0,
                                       "pods": [], "failure": None, **state}})


def _post(gateway, path, body, timeout=30):
    started = time.monotonic()
    response = httpx.post(f"{gateway}{path}", auth=("test-user-id", ""), json=body, timeout=timeout)
    return response, time.monotonic() - started


def test_failed_endpoint_answers_at_once_with_status_and_reason_on_every_route(gateway, model_server):
    model_server("tgi").state.fail_next(503, times=1000)
    create(gateway, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "UPDATE_FAILED", IMAGE_REASON)
    for path in ("/v1/llm/completions-sync?model_endpoint_name=llama-7b",
                 "/v1/llm/completions-stream?model_endpoint_name=llama-7b"):
        response, elapsed = _post(gateway, path, BODY)
        assert response.status_code == 503, response.text
        assert elapsed < 1.0
        detail = response.json()["detail"]
        assert "llama-7b" in detail and "UPDATE_FAILED" in detail and IMAGE_REASON in detail
        assert response.headers["x-should-retry"] == "false"
    legacy, elapsed = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b",
                            {"prompts": ["x"], "max_new_tokens": 3, "temperature": 0.1})
    assert legacy.status_code == 503 and elapsed < 1.0 and IMAGE_REASON in legacy.json()["detail"]


def test_failed_endpoint_answers_the_official_client_and_the_openai_sdk_at_once(gateway, model_server, client_at):
    model_server("vllm")
    create(gateway, VLLM_BODY)
    _set_status("llama-vllm", "UPDATE_FAILED", "pods cannot be scheduled: no node has nvidia-tesla-a10")
    started = time.monotonic()
    with pytest.raises(ServerError, match="UPDATE_FAILED"):
        Completion.create(model="llama-vllm", prompt="x", max_new_tokens=2, temperature=0.1)
    assert time.monotonic() - started < 1.0
    sdk = OpenAI(base_url=f"{gateway}/v1", api_key="test-user-id")  # default retries: it must not retry
    for call in (lambda: sdk.chat.completions.create(model="llama-vllm", messages=[{"role": "user", "content": "x"}]),
                 lambda: sdk.completions.create(model="llama-vllm", prompt="x", max_tokens=1)):
        started = time.monotonic()
        with pytest.raises(APIStatusError) as error:
            call()
        assert time.monotonic() - started < 1.0
        assert error.value.status_code == 503 and "no node has nvidia-tesla-a10" in str(error.value)


def test_failed_endpoint_answers_at_once_through_django_too(live_server, transactional_db, model_server):
    """The same views behind Django's own handler (not the ASGI fast path)."""
    from tests.fixtures_api import official_client

    model_server("tgi").state.fail_next(503, times=1000)
    create(live_server.url, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "UPDATE_FAILED", IMAGE_REASON)
    with official_client(live_server.url + "/"):
        started = time.monotonic()
        with pytest.raises(ServerError, match="UPDATE_FAILED"):
            Completion.create(model="llama-7b", prompt="x", max_new_tokens=2, temperature=0.1)
        assert time.monotonic() - started < 1.0


def test_ready_endpoint_without_replicas_and_nothing_starting_answers_at_once(gateway, model_server):
    model_server("tgi").state.fail_next(503, times=1000)
    create(gateway, GUIDE_LLAMA_7B)  # min_workers 1
    _set_status("llama-7b", "READY")
    _observe("llama-7b", replicas=1, available_workers=0, unavailable_workers=0)
    response, elapsed = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
    assert response.status_code == 503 and elapsed < 1.0
    assert "READY, but no replica is available and none is starting" in response.json()["detail"]


def test_ready_endpoint_whose_pods_crash_answers_at_once_with_the_cause(gateway, model_server):
    model_server("tgi").state.fail_next(503, times=1000)
    create(gateway, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "READY")
    _observe("llama-7b", replicas=1, unavailable_workers=1, failure="container main is crash-looping: CUDA OOM")
    response, elapsed = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
    assert response.status_code == 503 and elapsed < 1.0
    assert "crash-looping: CUDA OOM" in response.json()["detail"]


@pytest.mark.parametrize(("status", "min_workers", "state", "waited_for"), [
    ("READY", 0, {}, "a replica to scale up from zero"),
    ("READY", 1, {"replicas": 2, "unavailable_workers": 2}, "its rollout (2 replica(s) starting)"),
    ("UPDATE_IN_PROGRESS", 1, None, "its build to finish (status UPDATE_IN_PROGRESS)"),
])
def test_the_deadline_wait_stays_when_something_is_on_its_way_and_says_what_for(
        gateway, model_server, settings, status, min_workers, state, waited_for):
    settings.LLME_INFERENCE_DEADLINE_SECONDS = 1.5
    model_server("tgi").state.fail_next(503, times=1000)
    create(gateway, {**GUIDE_LLAMA_7B, "min_workers": min_workers})
    _set_status("llama-7b", status)
    if state is not None:
        _observe("llama-7b", **state)
    response, elapsed = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
    assert response.status_code == 503
    assert elapsed >= 1.0
    detail = response.json()["detail"]
    assert "No replica of the endpoint answered within 1.5 seconds" in detail and f"waited for {waited_for}" in detail


def test_a_waiting_request_stops_as_soon_as_the_build_fails(gateway, model_server, settings):
    settings.LLME_INFERENCE_DEADLINE_SECONDS = 60
    server = model_server("tgi")
    server.state.fail_next(503, times=10_000)
    create(gateway, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "UPDATE_IN_PROGRESS", "applying Kubernetes objects")
    timer = threading.Timer(0.5, _set_status, ("llama-7b", "UPDATE_FAILED", IMAGE_REASON))
    timer.start()
    try:
        response, elapsed = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
    finally:
        timer.join()
    assert response.status_code == 503 and IMAGE_REASON in response.json()["detail"]
    assert elapsed < 3.0


def test_a_ready_endpoint_is_served_without_reading_its_observed_state(gateway, model_server, monkeypatch):
    """The hot path stays as it was: a READY endpoint that answers costs no status lookup."""
    from endpoints.inference import readiness

    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "READY")
    calls = []
    original = readiness.Readiness.check

    async def counting(self, **kwargs):
        calls.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(readiness.Readiness, "check", counting)
    response, _ = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
    assert response.status_code == 200
    assert calls == []


class _CountingCache:
    """The real cache, counting the observed-state reads the gateway makes through it."""

    def __init__(self, real):
        self.real, self.state_reads = real, 0

    async def aget(self, key, *args, **kwargs):
        if key.startswith("infra:"):
            self.state_reads += 1
        return await self.real.aget(key, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_endpoint_rolling_out_an_update_reads_its_state_at_most_twice_a_second(gateway, model_server,
                                                                              monkeypatch):
    """A serving endpoint whose update is rolling out (status UPDATE_PENDING) is checked before
    every request; the shared cache is asked for its observed state at most once per half second
    per process, not once per request (each read is a thread hop and a Redis round trip)."""
    from django.core.cache import cache

    from endpoints.inference import readiness

    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B)
    _set_status("llama-7b", "UPDATE_PENDING")
    _observe("llama-7b", available_workers=1)
    counting = _CountingCache(cache)
    monkeypatch.setattr(readiness, "cache", counting)
    started = time.monotonic()
    for _ in range(40):
        response, _ = _post(gateway, "/v1/llm/completions-sync?model_endpoint_name=llama-7b", BODY)
        assert response.status_code == 200, response.text
    elapsed = time.monotonic() - started
    assert 1 <= counting.state_reads <= elapsed / readiness.STATE_MEMO_SECONDS + 2, (counting.state_reads, elapsed)
