"""v1 completions through the live ASGI gateway to local TGI and vLLM protocol servers."""
import asyncio
import json
import subprocess

import httpx
import pytest
from llmengine import Completion
from llmengine.errors import BadRequestError, NotFoundError

from tests.fixtures_api import GUIDE_LLAMA_7B
from tests.inference.conftest import create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

def test_official_client_sync_completion_on_tgi(tgi, client_at):
    response = Completion.create(model="llama-7b", prompt="Tell me a joke", max_new_tokens=5, temperature=0.1,
                                 return_token_log_probs=True)
    assert response.request_id
    assert response.output.text == " w0 w1 w2 w3 w4"
    assert response.output.num_completion_tokens == 5
    assert response.output.num_prompt_tokens == 4
    assert [t.token for t in response.output.tokens] == [" w0", " w1", " w2", " w3", " w4"]
    path, body = tgi.state.requests[-1]
    assert path == "/generate"
    assert body["parameters"]["max_new_tokens"] == 5 and body["parameters"]["do_sample"] is True


def test_official_client_stream_on_tgi(tgi, client_at):
    events = list(Completion.create(model="llama-7b", prompt="hi", max_new_tokens=3, temperature=0.0, stream=True))
    assert len({e.request_id for e in events}) == 1
    assert "".join(e.output.text for e in events) == " w0 w1 w2"
    assert [e.output.finished for e in events] == [False, False, True]
    assert events[-1].output.num_completion_tokens == 3


def test_official_client_on_vllm_with_stop_logprobs_and_guided_decoding(vllm, client_at):
    response = Completion.create(model="llama-vllm", prompt="count", max_new_tokens=10, temperature=0.5,
                                 stop_sequences=["w3"], return_token_log_probs=True)
    assert response.output.text == " w0 w1 w2"
    assert response.output.tokens[0].log_prob == -0.5
    path, body = vllm.state.requests[-1]
    assert path == "/v1/completions" and body["model"] == "llama-2-7b" and body["stop"] == ["w3"]
    assert "enforce_eager" not in body
    chosen = Completion.create(model="llama-vllm", prompt="pick", max_new_tokens=5, temperature=0.2,
                               guided_choice=["yes", "no"])
    assert chosen.output.text == "yes"
    as_json = Completion.create(model="llama-vllm", prompt="json", max_new_tokens=5, temperature=0.2,
                                guided_json={"type": "object"})
    assert json.loads(as_json.output.text) == {"answer": "w0"}


def test_official_client_stream_and_acreate_on_vllm(vllm, client_at):
    events = list(Completion.create(model="llama-vllm", prompt="x", max_new_tokens=4, temperature=0.2, stream=True))
    assert "".join(e.output.text for e in events) == " w0 w1 w2 w3"
    assert events[-1].output.finished and events[-1].output.num_prompt_tokens == 1
    response = asyncio.run(Completion.acreate(model="llama-vllm", prompt="x", max_new_tokens=2, temperature=0.2))
    assert response.output.text == " w0 w1"


def test_unknown_endpoint_is_404_and_bad_parameters_are_400(tgi, client_at):
    with pytest.raises(NotFoundError, match="The specified endpoint llama-7bb could not be found"):
        Completion.create(model="llama-7bb", prompt="x", max_new_tokens=3, temperature=0.1)
    with pytest.raises(BadRequestError, match="only supported by vllm"):
        Completion.create(model="llama-7b", prompt="x", max_new_tokens=3, temperature=0.1, guided_regex="a+")


def test_temperature_out_of_range_is_422_naming_the_field(tgi, gateway):
    response = httpx.post(f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b", auth=("test-user-id", ""),
                          json={"prompt": "x", "max_new_tokens": 3, "temperature": 3})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "temperature"]


def test_guide_curl_completion_works_verbatim(tgi, gateway):
    out = subprocess.run([
        "curl", "-sS", "-X", "POST", f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b",
        "-H", "Content-Type: application/json",
        "-d", '{\n        "prompts": ["Tell me a joke about AI"],\n        "max_new_tokens": 30,\n        "temperature": 0.1\n    }',
        "-u", "test-user-id:"], capture_output=True, text=True, timeout=30)
    body = json.loads(out.stdout)
    assert body["status"] == "SUCCESS" and body["traceback"] is None
    assert body["outputs"][0]["num_completion_tokens"] == 30
    assert body["outputs"][0]["text"].startswith(" w0 w1")


def test_gateway_reports_its_overhead(tgi, gateway):
    response = httpx.post(f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b", auth=("test-user-id", ""),
                          json={"prompt": "x", "max_new_tokens": 3, "temperature": 0.1})
    assert response.status_code == 200
    assert float(response.headers["x-llm-engine-overhead-ms"]) >= 0


def test_a_backend_that_answers_503_for_a_while_then_200_succeeds(tgi, client_at):
    tgi.state.fail_next(503, times=3)
    response = Completion.create(model="llama-7b", prompt="x", max_new_tokens=2, temperature=0.1)
    assert response.output.text == " w0 w1"
    assert len(tgi.state.requests) == 4


def test_a_backend_that_never_comes_up_gives_a_clear_503_at_the_deadline(tgi, gateway, settings):
    settings.LLME_INFERENCE_DEADLINE_SECONDS = 1.0
    tgi.state.fail_next(503, times=1000)
    response = httpx.post(f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b", auth=("test-user-id", ""),
                          json={"prompt": "x", "max_new_tokens": 3, "temperature": 0.1}, timeout=20)
    assert response.status_code == 503
    assert "No replica of the endpoint answered within 1 seconds" in response.json()["detail"]


def test_a_backend_dying_mid_stream_gives_an_in_band_error_with_the_request_id(tgi, gateway):
    tgi.state.die_mid_stream = True
    with httpx.stream("POST", f"{gateway}/v1/llm/completions-stream?model_endpoint_name=llama-7b",
                      auth=("test-user-id", ""), json={"prompt": "x", "max_new_tokens": 5, "temperature": 0.1},
                      timeout=20) as response:
        assert response.status_code == 200
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    assert events[-1]["output"] is None and events[-1]["error"]["status_code"] == 500
    assert events[-1]["request_id"] in events[-1]["error"]["content"]["error"]
    assert len({e["request_id"] for e in events}) == 1


def test_in_flight_requests_are_exposed_for_keda(gateway, model_server):
    server = model_server("tgi", delay=1.0)
    create(gateway, GUIDE_LLAMA_7B)
    endpoint_id = httpx.get(f"{gateway}/v1/llm/model-endpoints/llama-7b", auth=("test-user-id", "")).json()["id"]

    async def scenario():
        async with httpx.AsyncClient(timeout=20) as client:
            request = asyncio.create_task(client.post(
                f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b", auth=("test-user-id", ""),
                json={"prompt": "x", "max_new_tokens": 2, "temperature": 0.1}))
            await asyncio.sleep(0.4)
            during = (await client.get(f"{gateway}/v1/internal/endpoints/{endpoint_id}/autoscaling-metrics")).json()
            await request
            after = (await client.get(f"{gateway}/v1/internal/endpoints/{endpoint_id}/autoscaling-metrics")).json()
            return during, after

    during, after = asyncio.run(scenario())
    assert (during, after) == ({"in_flight": 1}, {"in_flight": 0})
    assert server.state.requests


def test_lookups_of_unknown_names_do_not_grow_the_route_cache_without_bound(gateway, settings, monkeypatch):
    from endpoints.inference import routing

    monkeypatch.setattr(routing._local, "limit", 5)
    for index in range(12):
        response = httpx.post(f"{gateway}/v1/llm/completions-sync?model_endpoint_name=missing-{index}",
                              auth=("test-user-id", ""), json={"prompt": "x", "max_new_tokens": 1, "temperature": 0})
        assert response.status_code == 404
    assert len(routing._local) <= 5
