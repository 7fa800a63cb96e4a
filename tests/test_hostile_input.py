"""Hostile input answers 4xx, never 5xx (docs/security.md#what-isolates-teams): oversized bodies (413 from Content-Length,
before the body is read and before authentication), deep JSON nesting, and characters PostgreSQL
refuses in paths, query parameters and body fields. Over Django's stack (test client) and over
the real ASGI gateway (uvicorn), whose inference routes skip Django."""
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures_api import basic

DEEP = b"[" * 100_000 + b"]" * 100_000
AUTH = basic("team-a")


def raw_request(base_url: str, head: str, body_part: bytes = b"", timeout: float = 10) -> tuple[int, bytes]:
    """Send a request head and only `body_part` of the body; the status line and what follows."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body_part)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


# ---- Django's stack (WSGI test client) -------------------------------------------------------

def test_oversized_content_length_is_413_before_authentication(api):
    response = api.generic("POST", "/v1/llm/model-endpoints", b"{}", content_type="application/json",
                           CONTENT_LENGTH=str(64 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_multipart_upload_limit_is_the_upload_setting(api, settings):
    settings.LLME_MAX_UPLOAD_BYTES = 1000
    response = api.generic("POST", "/v1/files", b"", content_type="multipart/form-data; boundary=x",
                           CONTENT_LENGTH=str(3 * 1024 * 1024), HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 413


def test_json_nested_100000_deep_is_422(api):
    response = api.generic("POST", "/v1/llm/model-endpoints", DEEP, content_type="application/json",
                           HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422
    assert "nested deeper" in json.dumps(response.json())


def test_json_nested_beyond_the_limit_but_parseable_is_422(api):
    body = b'{"name": ' + b"[" * 200 + b"]" * 200 + b"}"
    response = api.generic("POST", "/v1/llm/model-endpoints", body, content_type="application/json",
                           HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422


@pytest.mark.parametrize("path", [
    "/v1/files/file-%00x", "/v1/files/file-%00x/content", "/v1/llm/model-endpoints/a%00b",
    "/v1/llm/fine-tunes/ft-%00", "/v1/model-endpoints/end_%00", "/v1/batch-jobs/%00",
    "/v1/docker-image-batch-jobs/%00", "/v1/triggers/trig_%00", "/v1/model-bundles/bun_%00",
])
def test_nul_byte_in_a_path_is_404(api, path):
    response = api.get(path, HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 404


def test_nul_byte_in_a_query_parameter_is_422_naming_it(api):
    response = api.get("/v1/llm/model-endpoints?name=a%00b", HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "name"]


def test_nul_byte_in_a_body_field_is_422_naming_it(api, guide_llama_7b):
    body = {**guide_llama_7b, "name": "llama\u0000x", "labels": {"team": "a"}}
    response = api.post("/v1/llm/model-endpoints", body, format="json", HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_nul_byte_in_a_nested_key_is_422(api, guide_llama_7b):
    body = {**guide_llama_7b, "labels": {"te\u0000am": "a"}}
    response = api.post("/v1/llm/model-endpoints", body, format="json", HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "labels"]


def test_unpaired_surrogate_in_a_body_field_is_422(api):
    raw = b'{"model": "llama-2-7b", "training_file": "file-\\ud800"}'
    response = api.generic("POST", "/v1/llm/fine-tunes", raw, content_type="application/json",
                           HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "training_file"]


def test_nul_byte_in_a_multipart_file_name_is_422(api):
    body = (b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x00.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\nprompt,response\r\n--x\r\nContent-Disposition: form-data; "
            b"name=\"purpose\"\r\n\r\nfine\x00-tune\r\n--x--\r\n")
    response = api.generic("POST", "/v1/files", body, content_type="multipart/form-data; boundary=x",
                           HTTP_AUTHORIZATION=AUTH)
    assert response.status_code in (400, 422)


# ---- The real ASGI gateway ---------------------------------------------------------------------

def test_gateway_answers_413_from_content_length_without_reading_the_body(gateway):
    """An unauthenticated 64 MiB POST: the answer comes after the head alone (the body is
    never sent), and it is 413, not 401."""
    head = ("POST /v1/llm/model-endpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n")
    status, _ = raw_request(gateway, head, b"{")
    assert status == 413


def test_gateway_hot_path_answers_413_from_content_length(gateway):
    head = ("POST /v1/llm/completions-sync?model_endpoint_name=x HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {AUTH}\r\nContent-Type: application/json\r\nContent-Length: {64 * 1024 * 1024}\r\n\r\n")
    status, _ = raw_request(gateway, head, b"{")
    assert status == 413


def test_gateway_refuses_deep_json_on_the_hot_path_and_on_django_routes(gateway):
    with httpx.Client(base_url=gateway, headers={"Authorization": AUTH}, timeout=30) as client:
        hot = client.post("/v1/chat/completions", content=DEEP, headers={"content-type": "application/json"})
        django_route = client.post("/v1/llm/model-endpoints", content=DEEP, headers={"content-type": "application/json"})
    assert hot.status_code == 422 and "nested deeper" in hot.text
    assert django_route.status_code == 422


def test_gateway_refuses_nul_in_path_query_and_body(gateway):
    with httpx.Client(base_url=gateway, headers={"Authorization": AUTH}, timeout=30) as client:
        path = client.get("/v1/files/file-%00x")
        hot_path = client.get("/v1/async-tasks/%00")
        query = client.post("/v1/llm/completions-sync?model_endpoint_name=a%00", json={"prompt": "hi"})
        body = client.post("/v1/chat/completions", content=b'{"model": "a\\u0000", "messages": []}',
                           headers={"content-type": "application/json"})
    assert path.status_code == 404
    assert hot_path.status_code == 404
    assert query.status_code == 422 and query.json()["detail"][0]["loc"] == ["query", "model_endpoint_name"]
    assert body.status_code == 422 and body.json()["detail"][0]["loc"] == ["body", "model"]
