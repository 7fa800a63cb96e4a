"""Who is calling: Basic username or Bearer token, in trust-username and api-key modes."""
import base64
import io

import pytest
from django.core.management import call_command

from tests.fixtures_api import basic


def test_no_credentials_answers_401_with_the_contract_body(api):
    response = api.get("/v1/llm/model-endpoints")
    assert response.status_code == 401
    # The contract's body, followed (issue 13) by what this gateway expects.
    assert response.json()["detail"].startswith("No authentication was passed in: this gateway runs in")
    assert response["WWW-Authenticate"] == "Bearer"


def test_basic_username_is_the_user_in_trust_username_mode(api, settings):
    settings.LLME_AUTH_MODE = "trust-username"
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic("test-user-id"))
    assert response.status_code == 200
    assert response.json() == {"model_endpoints": []}


def test_bearer_token_is_accepted_like_a_username(api, settings):
    settings.LLME_AUTH_MODE = "trust-username"
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION="Bearer test-user-id")
    assert response.status_code == 200


def test_empty_username_is_refused(api, settings):
    settings.LLME_AUTH_MODE = "trust-username"
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic(""))
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "Could not authenticate user: the username is empty; this gateway runs in trust-username mode: the HTTP "
        "Basic username (e.g. `-u test-user-id:`) or the Bearer token is your user id (1 to 255 characters); "
        "the password is ignored")


def test_malformed_basic_header_is_401(api):
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION="Basic !!!not-base64")
    assert response.status_code == 401
    assert "not valid base64 of `username:password`" in response.json()["detail"]


@pytest.fixture
def api_key_mode(settings):
    settings.LLME_AUTH_MODE = "api-key"


def _create_key(user="alice", team="ml-team") -> str:
    out = io.StringIO()
    call_command("create_api_key", "--user", user, "--team", team, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_api_key_mode_accepts_an_issued_key_and_owns_by_its_team(api, api_key_mode, guide_llama_7b):
    key = _create_key()
    response = api.post("/v1/llm/model-endpoints", guide_llama_7b, format="json", HTTP_AUTHORIZATION=basic(key))
    assert response.status_code == 200, response.json()
    endpoint = api.get("/v1/llm/model-endpoints/llama-7b", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert endpoint["spec"]["created_by"] == "alice"


def test_api_key_mode_refuses_a_username(api, api_key_mode):
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic("test-user-id"))
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail.startswith("Could not authenticate user: the credential is not a valid API key")
    assert "api-key mode" in detail and "HTTP Basic username (`-u <key>:`" in detail and "Bearer <key>" in detail


def test_api_key_mode_says_when_the_key_was_sent_as_the_password(api, api_key_mode):
    key = _create_key()
    for username in ("", "alice"):
        header = "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode()
        response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert "the API key was sent as the password; put it in the username (`-u <key>:`)" in response.json()["detail"]
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION="Basic " + base64.b64encode(b":wrong").decode())
    assert "no API key was given (the username is empty)" in response.json()["detail"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_inference_fast_path_gives_the_same_hints(gateway, settings):
    import httpx

    settings.LLME_AUTH_MODE = "api-key"
    key = _create_key()
    url = f"{gateway}/v1/llm/completions-sync?model_endpoint_name=llama-7b"
    body = {"prompt": "x", "max_new_tokens": 1, "temperature": 0}
    guide = httpx.post(url, json=body, auth=("test-user-id", ""))
    assert guide.status_code == 401 and "the credential is not a valid API key" in guide.json()["detail"]
    swapped = httpx.post(url, json=body, auth=("", key))
    assert swapped.status_code == 401 and "the API key was sent as the password" in swapped.json()["detail"]
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401 and "api-key mode" in missing.json()["detail"]


def test_keys_are_stored_hashed_and_revoked_keys_stop_working(api, api_key_mode, django_capture_on_commit_callbacks):
    from llmengine_site.models import ApiKey
    from llmengine_site.services import api_key_revoke

    key = _create_key()
    assert api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic(key)).status_code == 200
    row = ApiKey.objects.get()
    assert key not in (row.key_hash, row.key_hint) and row.key_hash != key
    assert row.last_used_at is not None
    with django_capture_on_commit_callbacks(execute=True):  # the caches hear of it once committed
        api_key_revoke(row)
    assert api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic(key)).status_code == 401


def test_health_routes_need_no_auth(api):
    for path in ("/healthcheck", "/healthz", "/readyz"):
        assert api.get(path).status_code == 200, path


def test_openapi_document_is_served(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/llm/model-endpoints" in paths
    assert "/v1/llm/completions-sync" in paths and "/v1/chat/completions" in paths  # the async views too


def test_openapi_document_generates_without_warnings(tmp_path):
    """Every route is described (drf-spectacular fails on any warning), so the docs cannot drift."""
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "openapi.yaml"),
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert (tmp_path / "openapi.yaml").stat().st_size > 10_000
