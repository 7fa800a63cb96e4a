"""API keys in the console: the raw key is shown once; revoke; no delete."""
import pytest
from django.utils import timezone
from django.contrib.admin.utils import quote
from django.urls import reverse

from llmengine_site.auth import caller_for_credential
from llmengine_site.models import ApiKey, hash_key
from llmengine_site.services import api_key_create

pytestmark = pytest.mark.django_db


def test_create_shows_the_raw_key_once_and_stores_only_its_hash(operator_client, settings):
    settings.LLME_AUTH_MODE = "api-key"
    response = operator_client.post(reverse("admin:llmengine_site_apikey_add"),
                                    {"name": "ci", "user_id": "alice", "team_id": ""})
    assert response.status_code == 200
    raw_key = response.context["raw_key"]
    assert raw_key in response.content.decode() and "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert (key.user_id, key.team_id, key.key_hash) == ("alice", "alice", hash_key(raw_key))
    assert caller_for_credential(raw_key).user_id == "alice"
    for page in (reverse("admin:llmengine_site_apikey_change", args=[quote(key.pk)]),
                 reverse("admin:llmengine_site_apikey_changelist")):
        assert raw_key not in operator_client.get(page).content.decode()
    assert not list(response.wsgi_request._messages)  # never carried in a message or the session


def test_revoke_from_the_key_page_stops_the_key_at_once(operator_client, settings, django_capture_on_commit_callbacks):
    settings.LLME_AUTH_MODE = "api-key"
    key, raw_key = api_key_create(user_id="bob", team_id="ml")
    assert caller_for_credential(raw_key) is not None  # cached as valid
    page = operator_client.get(reverse("admin:llmengine_site_apikey_change", args=[quote(key.pk)])).content.decode()
    assert 'value="Revoke this key"' in page
    with django_capture_on_commit_callbacks(execute=True):  # the caches hear of it once committed
        operator_client.post(reverse("admin:llmengine_site_apikey_revoke", args=[quote(key.pk)]))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert caller_for_credential(raw_key) is None


def test_list_shows_owner_team_state_and_last_use_and_offers_no_delete(operator_client):
    key, _ = api_key_create(user_id="carol", team_id="research")
    revoked, _ = api_key_create(user_id="dan", team_id="research")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    response = operator_client.get(reverse("admin:llmengine_site_apikey_changelist"), {"state": "active"})
    html = response.content.decode()
    assert [k.user_id for k in response.context["cl"].result_list] == ["carol"]
    assert "research" in html and "Last used at" in html
    assert "?owner=research" in html  # who uses what: the team's endpoints
    assert "delete_selected" not in html
    assert operator_client.get(reverse("admin:llmengine_site_apikey_delete", args=[quote(key.pk)])).status_code == 403
