"""The forwarder in HTTP mode, run as the builder renders it, in front of local model servers."""
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from endpoints.forwarder.http_proxy import TOO_MANY
from endpoints.manifests.forwarder import endpoint_config
from tests.fakes.aws_fixtures import free_port
from tests.fakes.model_servers import ModelServer
from tests.forwarder.conftest import endpoint_spec, llm_spec, wait_until


@pytest.fixture
def tgi():
    with ModelServer("tgi") as server:
        yield server


@pytest.fixture
def vllm():
    with ModelServer("vllm") as server:
        yield server


def chunks_with_times(response: httpx.Response) -> list[tuple[float, bytes]]:
    started = time.monotonic()
    return [(time.monotonic() - started, chunk) for chunk in response.iter_raw() if chunk]


def test_predict_is_relayed_to_the_tgi_generate_route_unchanged(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)
    request = {"inputs": "hello", "parameters": {"max_new_tokens": 3}}

    response = httpx.post(forwarder.url + "/predict", json=request, timeout=10)

    direct = httpx.post(tgi.url + "/generate", json=request, timeout=10)
    assert response.status_code == 200
    assert response.json() == direct.json()
    assert response.headers["content-type"] == "application/json"
    assert float(response.headers["x-llm-engine-forwarder-ms"]) >= 0
    assert tgi.state.requests[0] == ("/generate", request)


def test_stream_is_relayed_event_by_event_as_the_model_produces_them(start_forwarder):
    with ModelServer("tgi", delay=1.0) as tgi:
        forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)
        request = {"inputs": "hello", "parameters": {"max_new_tokens": 10}}

        with httpx.stream("POST", forwarder.url + "/stream", json=request, timeout=10) as response:
            chunks = chunks_with_times(response)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "x-llm-engine-forwarder-ms" in response.headers
    events = [line for line in b"".join(chunk for _, chunk in chunks).decode().split("\n\n") if line]
    assert len(events) == 10
    assert json.loads(events[-1].removeprefix("data: "))["generated_text"] == " w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    # Not buffered: the events arrived in several reads spread over the generation time.
    assert len(chunks) >= 5
    assert chunks[-1][0] - chunks[0][0] >= 0.5
    assert tgi.state.requests[0][0] == "/generate_stream"


def test_vllm_openai_routes_are_relayed_streaming_or_not(start_forwarder, vllm):
    forwarder = start_forwarder(llm_spec("vllm"), vllm.url)
    completion = {"model": "m", "prompt": "hi", "max_tokens": 2}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}

    plain = httpx.post(forwarder.url + "/v1/completions", json=completion, timeout=10)
    chat_answer = httpx.post(forwarder.url + "/v1/chat/completions", json=chat, timeout=10)
    with httpx.stream("POST", forwarder.url + "/v1/chat/completions", json={**chat, "stream": True},
                      timeout=10) as response:
        streamed = response.read().decode()
    predict = httpx.post(forwarder.url + "/predict", json=completion, timeout=10)

    assert plain.status_code == 200 and plain.json()["choices"][0]["text"] == " w0 w1"
    assert chat_answer.json()["choices"][0]["message"]["content"] == " w0 w1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert streamed.count("data: ") == 4 and streamed.rstrip().endswith("data: [DONE]")
    assert predict.json()["choices"][0]["text"] == " w0 w1"  # vLLM's predict route is /v1/completions
    assert [path for path, _ in vllm.state.requests] == [
        "/v1/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/completions"]


def test_the_upstream_routes_themselves_are_accepted(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)

    response = httpx.post(forwarder.url + "/generate", json={"inputs": "x", "parameters": {"max_new_tokens": 1}})

    assert response.status_code == 200 and response.json()["generated_text"] == " w0"
    assert tgi.state.requests[0][0] == "/generate"


def test_routes_the_endpoint_does_not_expose_are_404(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)

    response = httpx.post(forwarder.url + "/v1/chat/completions", json={})

    assert response.status_code == 404 and "detail" in response.json()
    assert tgi.state.requests == []


def test_readyz_follows_the_main_container_health_and_healthz_is_always_ok(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)
    status = lambda path: httpx.get(forwarder.url + path, timeout=2).status_code  # noqa: E731
    assert status("/readyz") == 200

    tgi.state.healthy = False
    wait_until(lambda: status("/readyz") == 503, 5, message="/readyz to answer 503")
    assert status("/healthz") == 200

    tgi.state.healthy = True
    wait_until(lambda: status("/readyz") == 200, 5, message="/readyz to answer 200 again")


def test_requests_above_max_concurrency_are_refused_with_429_at_once(start_forwarder):
    with ModelServer("tgi", delay=1.5) as tgi:
        forwarder = start_forwarder(llm_spec("text_generation_inference", forwarder_max_concurrency=2), tgi.url)
        request = {"inputs": "x", "parameters": {"max_new_tokens": 1}}
        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(httpx.post, forwarder.url + "/predict", json=request, timeout=10) for _ in range(2)]
            wait_until(lambda: len(tgi.state.requests) == 2, 5, message="two requests in flight")
            started = time.monotonic()
            refused = httpx.post(forwarder.url + "/predict", json=request, timeout=10)
            refused_after = time.monotonic() - started
            answered = [future.result().status_code for future in slow]

    assert refused.status_code == 429
    assert refused.json() == TOO_MANY == {"detail": "Too many requests: the endpoint is at its concurrency limit"}
    assert refused_after < 0.5
    assert answered == [200, 200]
    assert len(tgi.state.requests) == 2


def test_upstream_error_status_and_body_pass_through(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)
    tgi.state.fail_next(503)

    failed = httpx.post(forwarder.url + "/predict", json={"inputs": "x"})
    invalid = httpx.post(forwarder.url + "/predict", json={"inputs": 1})

    assert failed.status_code == 503 and failed.json() == {"error": "injected 503"}
    assert invalid.status_code == 422 and invalid.json()["error_type"] == "validation"


def test_unreachable_model_server_answers_503_and_is_not_ready(start_forwarder):
    closed_port_url = f"http://127.0.0.1:{free_port()}"
    forwarder = start_forwarder(llm_spec("text_generation_inference"), closed_port_url, ready=False)

    response = httpx.post(forwarder.url + "/predict", json={"inputs": "x"})

    assert response.status_code == 503
    assert "not reachable" in response.json()["detail"]
    assert httpx.get(forwarder.url + "/readyz").status_code == 503


def test_a_stream_the_model_server_closes_early_is_relayed_up_to_where_it_stopped(start_forwarder, tgi):
    forwarder = start_forwarder(llm_spec("text_generation_inference"), tgi.url)
    tgi.state.die_mid_stream = True

    with httpx.stream("POST", forwarder.url + "/stream", json={"inputs": "x"}, timeout=10) as response:
        relayed = response.read().decode()

    # The model server's stream is delimited by its connection: an early close looks like an end,
    # so the first event arrives and the gateway notices the missing final event.
    assert relayed.count("data: ") == 1
    assert httpx.get(forwarder.url + "/healthz").status_code == 200


def test_a_chunked_stream_cut_by_the_model_server_is_cut_for_the_caller_too(start_forwarder):
    with _ChunkedStreamThatBreaks() as upstream:
        forwarder = start_forwarder(llm_spec("text_generation_inference"), upstream.url)

        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("POST", forwarder.url + "/stream", json={"inputs": "x"}, timeout=10) as response:
                response.read()

    assert httpx.get(forwarder.url + "/healthz").status_code == 200


class _ChunkedStreamThatBreaks:
    """A model server whose SSE answer is chunked and breaks off without the final chunk
    (a crash mid-generation); its health route answers 200."""

    def __enter__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.listener.close()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                request = connection.recv(65536)
                if request.startswith(b"GET"):
                    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    continue
                event = b"data: {}\n\n"
                connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                   b"transfer-encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(event), event))
                time.sleep(0.2)


def test_config_file_changes_apply_without_a_restart(start_forwarder, tgi):
    spec = llm_spec("text_generation_inference")
    forwarder = start_forwarder(spec, tgi.url)
    completion = {"model": "m", "prompt": "hi", "max_tokens": 1}
    assert httpx.post(forwarder.url + "/v1/completions", json=completion).status_code == 404

    config = endpoint_config(spec)
    config["routes"]["extra"] = ["/v1/completions"]  # as a ConfigMap update would
    forwarder.config_path.write_text(json.dumps(config))

    wait_until(lambda: httpx.post(forwarder.url + "/v1/completions", json=completion).status_code == 200, 5,
               message="the route added to the config file to be relayed")
    assert tgi.state.requests[-1] == ("/v1/completions", completion)


def test_sigterm_lets_in_flight_requests_finish(start_forwarder):
    with ModelServer("echo", delay=1.5) as echo:
        forwarder = start_forwarder(endpoint_spec(), echo.url)
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            response=httpx.post(forwarder.url + "/predict", json={"x": 1}, timeout=10)))
        thread.start()
        wait_until(lambda: echo.state.requests, 5, message="the request to reach the model server")

        forwarder.process.send_signal(signal.SIGTERM)
        thread.join(10)
        forwarder.process.wait(10)

    assert result["response"].status_code == 200
    assert result["response"].json() == {"echo": {"x": 1}}
    assert forwarder.process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in forwarder.log()
