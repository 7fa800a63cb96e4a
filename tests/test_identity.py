"""Who is calling: Basic username or Bearer token, in trust-username and api-key modes."""
import io

import pytest
from django.core.management import call_command

from tests.fixtures_api import basic


def test_no_credentials_answers_401_with_the_contract_body(api):
    response = api.get("/v1/llm/model-endpoints")
    assert response.status_code == 401
    assert response.json() == {"detail": "No authentication was passed in"}
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
    assert response.json() == {"detail": "Could not authenticate user"}


def test_malformed_basic_header_is_401(api):
    response = api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION="Basic !!!not-base64")
    assert response.status_code == 401


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
    assert response.json() == {"detail": "Could not authenticate user"}


def test_keys_are_stored_hashed_and_revoked_keys_stop_working(api, api_key_mode):
    from llmengine_site.models import ApiKey
    from llmengine_site.services import api_key_revoke

    key = _create_key()
    assert api.get("/v1/llm/model-endpoints", HTTP_AUTHORIZATION=basic(key)).status_code == 200
    row = ApiKey.objects.get()
    assert key not in (row.key_hash, row.key_hint) and row.key_hash != key
    assert row.last_used_at is not None
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
