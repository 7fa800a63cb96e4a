"""The endpoint page: desired spec, observed state, events, manifests, and actions through the
services, reporting success or the error text (never a server error)."""
import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from endpoints import infra_state
from endpoints.models import EndpointEvent, ModelEndpoint
from tests.console.conftest import IMAGE_PULL_MESSAGE, make_endpoint

pytestmark = pytest.mark.django_db


def page_url(endpoint) -> str:
    return reverse("admin:endpoints_modelendpoint_change", args=[quote(endpoint.pk)])


def action(client, endpoint, name, data=None):
    """POST an action, follow the redirect back to the page; returns (page, message texts)."""
    response = client.post(reverse(f"admin:endpoints_modelendpoint_{name}", args=[quote(endpoint.pk)]), data or {}, follow=True)
    assert response.status_code == 200
    return response, [str(message) for message in response.context["messages"]]


def test_failing_endpoint_page_shows_reason_pods_events_and_manifests(operator_client, failing_endpoint):
    html = operator_client.get(page_url(failing_endpoint)).content.decode()
    assert "UPDATE_FAILED" in html
    assert "cannot be pulled" in html and "ImagePullBackOff" in html
    assert IMAGE_PULL_MESSAGE.replace('"', "&quot;") in html  # the pod's own message
    assert "Observed in Kubernetes" in html and failing_endpoint.destination in html  # pod names start with it
    assert "applying Kubernetes objects" in html  # an event of the timeline
    assert "kind: Deployment" in html and "kind: ScaledObject" in html


def test_page_of_an_unobserved_endpoint_says_so(operator_client):
    html = operator_client.get(page_url(make_endpoint("echo"))).content.decode()
    assert "Not observed" in html


def test_page_shows_render_errors_instead_of_failing(operator_client):
    endpoint = make_endpoint("broken", gpus=1, gpu_type=None)  # a GPU count with no type cannot render
    response = operator_client.get(page_url(endpoint))
    assert response.status_code == 200
    assert "Cannot render:" in response.content.decode()


def test_callback_credentials_are_not_shown(operator_client):
    endpoint = make_endpoint("echo", default_callback_auth={"kind": "basic", "username": "u", "password": "s3cret"})
    html = operator_client.get(page_url(endpoint)).content.decode()
    assert "s3cret" not in html and "set (hidden)" in html


def test_rebuild_goes_through_the_service_and_reports_it(operator_client, failing_endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page, messages = action(operator_client, failing_endpoint, "rebuild")
    assert messages == ["llama-7b: rebuild queued"]
    endpoint = ModelEndpoint.objects.get(pk=failing_endpoint.pk)
    assert (endpoint.status, endpoint.spec_version) == ("UPDATE_PENDING", failing_endpoint.spec_version + 1)
    assert EndpointEvent.objects.filter(endpoint=endpoint, reason="rebuild requested").exists()
    assert len(callbacks) == 1  # the build is enqueued after commit, as the API does


def test_restart_rolls_the_deployment(operator_client, failing_endpoint, k8s_api):
    _, messages = action(operator_client, failing_endpoint, "restart")
    assert messages == ["llama-7b: rollout restart requested"]
    deployment = k8s_api.get_object("Deployment", "llm-engine", failing_endpoint.destination)
    assert "kubectl.kubernetes.io/restartedAt" in str(deployment["spec"]["template"]["metadata"])


def test_restart_without_a_deployment_reports_the_cluster_error(operator_client, k8s_api):
    endpoint = make_endpoint("never-built")
    _, messages = action(operator_client, endpoint, "restart")
    assert len(messages) == 1 and messages[0].startswith("never-built: ")
    assert "restart requested" not in messages[0]


def test_scale_updates_the_worker_bounds_through_the_update_service(operator_client, failing_endpoint):
    _, messages = action(operator_client, failing_endpoint, "scale", {"min_workers": 0, "max_workers": 3})
    assert messages == ["llama-7b: workers set to 0–3; update queued"]
    endpoint = ModelEndpoint.objects.get(pk=failing_endpoint.pk)
    assert (endpoint.min_workers, endpoint.max_workers, endpoint.status) == (0, 3, "UPDATE_PENDING")


def test_scale_of_a_generic_endpoint_acts_for_its_owner(operator_client):
    endpoint = make_endpoint("echo")
    _, messages = action(operator_client, endpoint, "scale", {"min_workers": 2, "max_workers": 4})
    assert messages == ["echo: workers set to 2–4; update queued"]
    assert ModelEndpoint.objects.get(pk=endpoint.pk).max_workers == 4


def test_scale_with_min_above_max_is_refused_with_the_rule(operator_client):
    endpoint = make_endpoint("echo")
    _, messages = action(operator_client, endpoint, "scale", {"min_workers": 5, "max_workers": 1})
    assert messages == ["echo: not scaled: min_workers (5) must not be greater than max_workers (1)."]
    assert ModelEndpoint.objects.get(pk=endpoint.pk).spec_version == endpoint.spec_version


def test_domain_errors_of_the_service_become_messages(operator_client):
    endpoint = make_endpoint("going", status="DELETE_IN_PROGRESS")
    _, messages = action(operator_client, endpoint, "rebuild")
    assert messages == ["going: Model endpoint going is being deleted; it cannot be changed."]


def test_delete_needs_the_name_typed_then_queues_the_teardown(operator_client):
    endpoint = make_endpoint("echo")
    _, messages = action(operator_client, endpoint, "teardown", {"confirm_name": "ech"})
    assert "type the endpoint's name to confirm" in messages[0]
    assert ModelEndpoint.objects.get(pk=endpoint.pk).status == "UPDATE_PENDING"
    page, messages = action(operator_client, endpoint, "teardown", {"confirm_name": "echo"})
    assert messages == ["echo: deletion queued; the row goes once its resources are torn down"]
    assert ModelEndpoint.objects.get(pk=endpoint.pk).status == "DELETE_IN_PROGRESS"
    assert "being deleted; no action applies" in page.content.decode()


def test_actions_answer_405_to_get(operator_client):
    endpoint = make_endpoint("echo")
    assert operator_client.get(reverse("admin:endpoints_modelendpoint_rebuild", args=[quote(endpoint.pk)])).status_code == 405


def test_bulk_rebuild_reports_each_outcome(operator_client):
    ok, deleting = make_endpoint("ok"), make_endpoint("going", status="DELETE_IN_PROGRESS")
    response = operator_client.post(
        reverse("admin:endpoints_modelendpoint_changelist"),
        {"action": "rebuild_selected", "_selected_action": [ok.pk, deleting.pk]}, follow=True,
    )
    texts = {str(message) for message in response.context["messages"]}
    assert texts == {"ok: rebuild queued", "going: Model endpoint going is being deleted; it cannot be changed."}


def test_list_shows_observed_workers_and_queue_depths(operator_client):
    sync = make_endpoint("sync-one")
    queued = make_endpoint("async-one", endpoint_type="async")
    infra_state.write_states({sync.pk: {"available_workers": 1}, queued.pk: {"num_queued_items": 42}})
    html = operator_client.get(reverse("admin:endpoints_modelendpoint_changelist")).content.decode()
    assert "1 / 1–2" in html and "– / 1–2, 42 queued" in html


def test_list_is_searchable_by_reason_and_filterable_by_status(operator_client):
    make_endpoint("fine", status="READY")
    make_endpoint("broken", status="UPDATE_FAILED", status_reason="pods cannot be scheduled: no GPU")
    changelist = reverse("admin:endpoints_modelendpoint_changelist")
    by_search = operator_client.get(changelist, {"q": "cannot be scheduled"}).context["cl"].result_list
    by_status = operator_client.get(changelist, {"status__exact": "READY"}).context["cl"].result_list
    assert [e.name for e in by_search] == ["broken"] and [e.name for e in by_status] == ["fine"]
