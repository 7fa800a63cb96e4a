"""Fixtures for the operator console: the two roles and their users, endpoint rows, and a real
failing endpoint built against the fake Kubernetes API."""
import pytest
from django.core.management import call_command

from endpoints.builder import endpoint_sync
from endpoints.models import ModelBundle, ModelEndpoint
from endpoints.reconciler import reconcile_once
from llmengine_site.infra.kube import get_kube

NS = "llm-engine"
PASSWORD = "console-test-password"
IMAGE_PULL_MESSAGE = 'Back-off pulling image "text-generation-inference:0.9.3"'


@pytest.fixture
def roles(db):
    call_command("create_roles", stdout=open("/dev/null", "w"))


def staff_user(django_user_model, username: str, group: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(roles, django_user_model):
    return staff_user(django_user_model, "olivia-operator", "operator")


@pytest.fixture
def viewer(roles, django_user_model):
    return staff_user(django_user_model, "victor-viewer", "viewer")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def make_endpoint(name: str, **fields) -> ModelEndpoint:
    """One endpoint row with its bundle, as the API would have stored it (no build sent)."""
    bundle = ModelBundle.objects.create(
        name=name, owner=fields.get("owner", "team-a"), created_by="user-a", flavor="runnable_image",
        spec={"repository": "example/echo", "tag": "1.0", "command": ["serve"], "predict_route": "/predict"},
    )
    values = dict(
        name=name, owner="team-a", created_by="user-a", endpoint_type="sync", bundle=bundle,
        min_workers=1, max_workers=2, per_worker=1, concurrent_requests_per_worker=1,
        cpus="1", memory="2Gi", storage="1Gi",
    )
    values.update(fields)
    return ModelEndpoint.objects.create(**values)


@pytest.fixture
def failing_endpoint(api, guide_llama_7b, k8s_api) -> ModelEndpoint:
    """The guide's llama-7b, built, with a pod stuck in ImagePullBackOff: UPDATE_FAILED with the
    reason the reconciler wrote, and its observed state in the cache."""
    response = api.as_user("test-user-id").post("/v1/llm/model-endpoints", guide_llama_7b, format="json")
    assert response.status_code == 200, response.json()
    endpoint = ModelEndpoint.objects.get(name=guide_llama_7b["name"])
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    k8s_api.add_pod_for_deployment(NS, endpoint.destination, waiting_reason="ImagePullBackOff",
                                   waiting_message=IMAGE_PULL_MESSAGE)
    reconcile_once(get_kube())
    endpoint.refresh_from_db()
    assert endpoint.status == "UPDATE_FAILED", endpoint.status_reason
    return endpoint
