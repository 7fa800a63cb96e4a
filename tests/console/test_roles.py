"""The viewer and operator roles: who sees and runs what."""
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.contrib.admin.utils import quote
from django.urls import reverse

from endpoints.models import ModelEndpoint
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db


def permission_names(group: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=group).permissions.all()}


def test_create_roles_is_idempotent_and_restores_the_exact_permissions(roles):
    before = {name: permission_names(name) for name in ("viewer", "operator")}
    Group.objects.get(name="viewer").permissions.clear()
    call_command("create_roles", stdout=open("/dev/null", "w"))
    assert {name: permission_names(name) for name in ("viewer", "operator")} == before
    assert Group.objects.filter(name__in=["viewer", "operator"]).count() == 2


def test_viewer_only_views_and_operator_can_operate(roles):
    viewer, operator = permission_names("viewer"), permission_names("operator")
    assert viewer and all(".view_" in name for name in viewer)
    assert {"endpoints.view_modelendpoint", "llmengine_site.view_apikey", "endpoints.view_endpointevent"} <= viewer
    assert {"endpoints.change_modelendpoint", "endpoints.delete_modelendpoint",
            "llmengine_site.add_apikey", "llmengine_site.change_apikey",
            "endpoints.change_recommendedhardware"} <= operator
    assert viewer < operator


def test_viewer_sees_the_endpoint_page_without_action_buttons(viewer_client):
    endpoint = make_endpoint("echo")
    page = viewer_client.get(reverse("admin:endpoints_modelendpoint_change", args=[quote(endpoint.pk)]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "echo" in html and "endpoint-actions" not in html
    assert 'value="Rebuild"' not in html and 'value="Delete endpoint"' not in html


@pytest.mark.parametrize("action", ["rebuild", "restart", "scale", "teardown"])
def test_viewer_posting_an_action_gets_403_and_nothing_changes(viewer_client, action):
    endpoint = make_endpoint("echo")
    url = reverse(f"admin:endpoints_modelendpoint_{action}", args=[quote(endpoint.pk)])
    response = viewer_client.post(url, {"min_workers": 0, "max_workers": 5, "confirm_name": "echo"})
    assert response.status_code == 403
    after = ModelEndpoint.objects.get(pk=endpoint.pk)
    assert (after.status, after.spec_version, after.max_workers) == (endpoint.status, endpoint.spec_version, 2)


def test_viewer_cannot_run_bulk_actions_from_the_list(viewer_client):
    endpoint = make_endpoint("echo")
    changelist = reverse("admin:endpoints_modelendpoint_changelist")
    assert "rebuild_selected" not in viewer_client.get(changelist).content.decode()
    viewer_client.post(changelist, {"action": "rebuild_selected", "_selected_action": [endpoint.pk]})
    assert ModelEndpoint.objects.get(pk=endpoint.pk).spec_version == endpoint.spec_version


def test_operator_sees_and_runs_the_actions(operator_client):
    endpoint = make_endpoint("echo")
    page = operator_client.get(reverse("admin:endpoints_modelendpoint_change", args=[quote(endpoint.pk)])).content.decode()
    assert 'value="Rebuild"' in page and 'value="Scale"' in page and 'value="Delete endpoint"' in page
    operator_client.post(reverse("admin:endpoints_modelendpoint_rebuild", args=[quote(endpoint.pk)]))
    assert ModelEndpoint.objects.get(pk=endpoint.pk).spec_version == endpoint.spec_version + 1


def test_viewer_cannot_issue_or_revoke_api_keys(viewer_client):
    from llmengine_site.services import api_key_create

    key, _ = api_key_create(user_id="u", team_id="t")
    assert viewer_client.get(reverse("admin:llmengine_site_apikey_add")).status_code == 403
    assert viewer_client.post(reverse("admin:llmengine_site_apikey_revoke", args=[quote(key.pk)])).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_trust_username_mode_shows_the_banner_on_admin_pages(viewer_client, settings):
    settings.LLME_AUTH_MODE = "trust-username"
    assert "trust-username-banner" in viewer_client.get(reverse("admin:index")).content.decode()
    settings.LLME_AUTH_MODE = "api-key"
    assert "trust-username-banner" not in viewer_client.get(reverse("admin:index")).content.decode()


def actions_offered_to(user, app_label: str) -> dict[str, list[str]]:
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return {
        model._meta.model_name: sorted(model_admin.get_actions(request))
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == app_label and model_admin.get_actions(request)
    }


@pytest.mark.parametrize("app_label", [
    "endpoints",
    "llmengine_site",
    "jobs",
])
def test_viewer_is_offered_no_action_on_any_list(viewer, app_label):
    assert actions_offered_to(viewer, app_label) == {}
