"""Secrets are write-only in every API response (docs/security.md#what-isolates-teams): callback passwords and private
keys of endpoints are never answered, to their owner or to other teams reading a public LLM
endpoint, while the official client still parses the body."""
import pytest
from llmengine.data_types.model_endpoints import GetLLMEndpointResponse, ListLLMEndpointsResponse

from endpoints.callback_auth import SECRET_PLACEHOLDER
from endpoints.models import ModelEndpoint

PASSWORD = "hunter2-callback-password"


@pytest.fixture
def owner(api):
    return api.as_user("team-a")


@pytest.fixture
def other_team(api):
    return api.as_user("team-b")


@pytest.fixture
def public_endpoint(owner, guide_llama_7b):
    body = {**guide_llama_7b, "public_inference": True,
            "default_callback_auth": {"kind": "basic", "username": "hook", "password": PASSWORD}}
    response = owner.post("/v1/llm/model-endpoints", body, format="json")
    assert response.status_code == 200, response.json()
    return ModelEndpoint.objects.get(name="llama-7b")


def test_callback_password_is_never_answered_to_owner_or_other_teams(owner, other_team, public_endpoint):
    answers = [owner.get("/v1/llm/model-endpoints/llama-7b"), owner.get("/v1/llm/model-endpoints"),
               other_team.get("/v1/llm/model-endpoints/llama-7b"), other_team.get("/v1/llm/model-endpoints"),
               owner.get(f"/v1/model-endpoints/{public_endpoint.id}"), owner.get("/v1/model-endpoints")]
    for response in answers:
        assert response.status_code == 200, response.json()
        assert PASSWORD not in response.content.decode()
    single = answers[2].json()
    assert single["spec"]["default_callback_auth"] == {"kind": "basic", "username": "hook", "password": SECRET_PLACEHOLDER}
    GetLLMEndpointResponse.parse_obj(single)  # the official client's model still parses it
    ListLLMEndpointsResponse.parse_obj(answers[3].json())


def test_mtls_private_key_is_never_answered(owner, guide_llama_7b):
    body = {**guide_llama_7b, "default_callback_auth": {"kind": "mtls", "cert": "CERT", "key": "PRIVATE-KEY"}}
    assert owner.post("/v1/llm/model-endpoints", body, format="json").status_code == 200
    got = owner.get("/v1/llm/model-endpoints/llama-7b").json()
    assert got["spec"]["default_callback_auth"] == {"kind": "mtls", "cert": "CERT", "key": SECRET_PLACEHOLDER}


def test_writing_back_what_was_read_keeps_the_stored_secret(owner, public_endpoint):
    read = owner.get("/v1/llm/model-endpoints/llama-7b").json()["spec"]["default_callback_auth"]
    response = owner.put("/v1/llm/model-endpoints/llama-7b", {"default_callback_auth": read}, format="json")
    assert response.status_code == 200, response.json()
    public_endpoint.refresh_from_db()
    assert public_endpoint.default_callback_auth["password"] == PASSWORD


def test_a_new_secret_replaces_the_stored_one(owner, public_endpoint):
    new = {"kind": "basic", "username": "hook", "password": "rotated"}
    assert owner.put("/v1/llm/model-endpoints/llama-7b", {"default_callback_auth": new}, format="json").status_code == 200
    public_endpoint.refresh_from_db()
    assert public_endpoint.default_callback_auth["password"] == "rotated"
