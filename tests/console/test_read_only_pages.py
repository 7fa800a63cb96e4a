"""A page where nothing can be edited is a "View …" page without save buttons, whoever opens it
(docs/console.md#pages): every registered model's page, for an operator and for a viewer."""
import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from llmengine_site.services import api_key_create
from tests.console.conftest import make_endpoint
from tests.console.test_recent_actions import docker_job, file_storage, fine_tune, trigger  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SAVE_BUTTONS = ('name="_save"', 'name="_continue"', 'name="_addanother"')
# Rows the services write (docs/design.md#the-admin): nobody edits them in a form.
NOBODY_EDITS = {"modelendpoint", "modelbundle", "endpointevent", "apikey", "file", "batchjob", "finetune", "trigger",
                "dockerimagebatchjobbundle"}


@pytest.fixture
def one_of_each(api, operator):
    alice = api.as_user("alice")
    fine_tune(alice), docker_job(alice), trigger(alice)
    make_endpoint("echo-read-only")
    api_key_create(user_id="alice", team_id="ml")


def editable_fields(response) -> list[str]:
    """The form fields the page lets one change (not read-only), inlines included."""
    names = [field.field["name"] if isinstance(field.field, dict) else field.field.name
             for fieldset in response.context["adminform"] for line in fieldset for field in line
             if not field.is_readonly]
    for inline in response.context.get("inline_admin_formsets") or []:
        names += [f"{inline.opts.model._meta.model_name}.{name}" for name in inline.formset.form.base_fields
                  if name not in inline.readonly_fields and inline.has_change_permission]
    return names


@pytest.mark.parametrize("role", ["operator_client", "viewer_client"])
def test_pages_with_nothing_to_edit_have_no_save_button_and_say_view(request, one_of_each, role):
    client, checked = request.getfixturevalue(role), []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("endpoints", "jobs", "llmengine_site"):
            continue
        obj = model._default_manager.first()
        if obj is None:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[quote(obj.pk)])
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        if model._meta.model_name in NOBODY_EDITS:
            assert editable_fields(response) == [], url
        if not editable_fields(response):
            assert not any(button in html for button in SAVE_BUTTONS), url
            assert f"<title>View {model._meta.verbose_name}" in html.replace("\n", "") or \
                response.context["title"].startswith("View "), (url, response.context["title"])
        checked.append(model._meta.model_name)
    assert {"modelendpoint", "finetune", "batchjob", "trigger", "file", "apikey", "dockerimagebatchjobbundle"} <= set(checked)
