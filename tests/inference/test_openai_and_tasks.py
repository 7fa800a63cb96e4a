"""The OpenAI SDK against the gateway, and generic sync/streaming tasks."""
import json

import httpx
import pytest
from openai import NotFoundError as OpenAINotFound
from openai import OpenAI

from tests.inference.conftest import create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def openai_client(gateway):
    return OpenAI(base_url=f"{gateway}/v1", api_key="test-user-id", max_retries=0)


def test_openai_sdk_chat_completion(vllm, openai_client):
    reply = openai_client.chat.completions.create(
        model="llama-vllm", messages=[{"role": "user", "content": "hello"}], max_tokens=3)
    assert reply.choices[0].message.content == " w0 w1 w2"
    assert reply.model == "llama-vllm"
    path, body = vllm.state.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == "llama-2-7b"


def test_openai_sdk_streaming_chat_completion(vllm, openai_client):
    chunks = list(openai_client.chat.completions.create(
        model="llama-vllm", messages=[{"role": "user", "content": "hello"}], max_tokens=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " w0 w1 w2"
    assert {c.model for c in chunks} == {"llama-vllm"}


def test_openai_sdk_completions_and_v2_alias(vllm, openai_client, gateway):
    completion = openai_client.completions.create(model="llama-vllm", prompt="x", max_tokens=2)
    assert completion.choices[0].text == " w0 w1"
    v2 = OpenAI(base_url=f"{gateway}/v2", api_key="test-user-id", max_retries=0)
    assert v2.completions.create(model="llama-vllm", prompt="x", max_tokens=1).choices[0].text == " w0"


def test_openai_sdk_lists_the_callers_and_public_models(vllm, openai_client):
    assert [m.id for m in openai_client.models.list()] == ["llama-vllm"]


def test_openai_route_for_an_unknown_model_is_404(vllm, openai_client):
    with pytest.raises(OpenAINotFound):
        openai_client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])


def test_openai_routes_refuse_tgi_endpoints(gateway, model_server):
    from tests.fixtures_api import GUIDE_LLAMA_7B

    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B)
    response = httpx.post(f"{gateway}/v1/chat/completions", headers={"Authorization": "Bearer test-user-id"},
                          json={"model": "llama-7b", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 400
    assert "vllm or sglang" in response.json()["detail"]


def _echo_endpoint(gateway, endpoint_type="streaming") -> str:
    auth = ("team-a", "")
    flavor = {"flavor": "streaming_enhanced_runnable_image", "repository": "echo", "tag": "1", "command": ["echo"],
              "streaming_command": ["echo"], "predict_route": "/predict", "streaming_predict_route": "/stream"}
    bundle = httpx.post(f"{gateway}/v2/model-bundles", auth=auth, json={
        "name": "echo", "schema_location": "s3://b/s.json", "flavor": flavor}).json()["model_bundle_id"]
    response = httpx.post(f"{gateway}/v1/model-endpoints", auth=auth, json={
        "name": "echo", "model_bundle_id": bundle, "endpoint_type": endpoint_type, "metadata": {}, "cpus": 1,
        "gpus": 0, "memory": "1Gi", "storage": "1Gi", "min_workers": 1, "max_workers": 1, "per_worker": 1,
        "labels": {}})
    assert response.status_code == 200, response.text
    return httpx.get(f"{gateway}/v1/model-endpoints", auth=auth).json()["model_endpoints"][0]["id"]


def test_sync_task_returns_the_result_and_is_owner_scoped(gateway, model_server):
    model_server("echo")
    endpoint_id = _echo_endpoint(gateway)
    response = httpx.post(f"{gateway}/v1/sync-tasks?model_endpoint_id={endpoint_id}", auth=("team-a", ""),
                          json={"args": {"y": 1}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "SUCCESS" and body["status_code"] == 200
    assert json.loads(body["result"]["result"]) == {"echo": {"y": 1}}
    other = httpx.post(f"{gateway}/v1/sync-tasks?model_endpoint_id={endpoint_id}", auth=("team-b", ""),
                       json={"args": {"y": 1}})
    assert other.status_code == 404


def test_sync_task_upstream_failure_is_reported_as_failure(gateway, model_server):
    server = model_server("echo")
    endpoint_id = _echo_endpoint(gateway)
    server.state.fail_next(500)
    body = httpx.post(f"{gateway}/v1/sync-tasks?model_endpoint_id={endpoint_id}", auth=("team-a", ""),
                      json={"args": {"y": 1}}).json()
    assert (body["status"], body["status_code"]) == ("FAILURE", 500)
    assert "injected 500" in body["traceback"]


def test_streaming_task_relays_each_chunk(gateway, model_server):
    model_server("echo")
    endpoint_id = _echo_endpoint(gateway)
    with httpx.stream("POST", f"{gateway}/v1/streaming-tasks?model_endpoint_id={endpoint_id}", auth=("team-a", ""),
                      json={"args": {"y": 1}}) as response:
        events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
    assert [e["result"]["result"]["part"] for e in events] == [0, 1, 2]
    assert all(e["status"] == "SUCCESS" for e in events)


def test_async_task_on_a_sync_endpoint_is_400(gateway, model_server):
    model_server("echo")
    endpoint_id = _echo_endpoint(gateway)
    response = httpx.post(f"{gateway}/v1/async-tasks?model_endpoint_id={endpoint_id}", auth=("team-a", ""),
                          json={"args": {}})
    assert response.status_code == 400
    assert "Unsupported inference type" in response.json()["detail"]


def test_v1_models_lists_exactly_the_models_chat_and_completions_serve(gateway, model_server, openai_client):
    from endpoints.models import ModelEndpoint
    from tests.fixtures_api import GUIDE_LLAMA_7B
    from tests.inference.conftest import VLLM_BODY

    model_server("vllm")
    create(gateway, VLLM_BODY)
    create(gateway, GUIDE_LLAMA_7B)  # TGI: the OpenAI routes refuse it
    create(gateway, {**VLLM_BODY, "name": "retired-vllm"})
    ModelEndpoint.objects.filter(name="retired-vllm").update(max_workers=0, min_workers=0)  # deprecated
    from endpoints.inference import routing

    routing.forget(ModelEndpoint.objects.get(name="retired-vllm").id, "retired-vllm")
    listed = {m.id for m in openai_client.models.list()}
    assert listed == {"llama-vllm"}
    headers = {"Authorization": "Bearer test-user-id"}
    for name in ("llama-vllm", "llama-7b", "retired-vllm"):
        chat = httpx.post(f"{gateway}/v1/chat/completions", headers=headers, timeout=30,
                          json={"model": name, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1})
        completion = httpx.post(f"{gateway}/v1/completions", headers=headers, timeout=30,
                                json={"model": name, "prompt": "x", "max_tokens": 1})
        served = chat.status_code == 200 and completion.status_code == 200
        assert served == (name in listed), (name, chat.text, completion.text)
