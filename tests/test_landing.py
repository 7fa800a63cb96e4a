"""`/` is a landing page (console, API docs, health), the console's "View site" link goes there,
and `/docs` serves swagger-ui from the project's own static files (no CDN)."""
import re

import pytest
from django.urls import reverse

from tests.console.conftest import operator, operator_client, roles  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_root_is_a_landing_page_linking_console_docs_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for href in ('href="/admin/"', 'href="/docs"', 'href="/openapi.json"', 'href="/healthz"', 'href="/readyz"'):
        assert href in html
    for target in ("/admin/", "/docs", "/openapi.json", "/healthz", "/readyz"):
        assert client.get(target, follow=True).status_code == 200, target


def test_landing_page_says_how_to_authenticate_in_each_mode(client, settings):
    settings.LLME_AUTH_MODE = "trust-username"
    assert "curl -u test-user-id: http://testserver/v1/llm/model-endpoints" in client.get("/").content.decode()
    settings.LLME_AUTH_MODE = "api-key"
    html = client.get("/").content.decode()
    assert "api-key" in html and "Bearer token" in html and "test-user-id" not in html


def test_console_view_site_link_opens_the_landing_page(operator_client):  # noqa: F811
    html = operator_client.get(reverse("admin:index")).content.decode()
    view_site = re.search(r'<a href="([^"]*)">View site</a>', html)
    assert view_site, "the console header has a View site link"
    response = operator_client.get(view_site.group(1))
    assert response.status_code == 200 and 'id="landing"' in response.content.decode()


def test_docs_load_swagger_ui_from_our_static_files_only(client):
    html = client.get("/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    assert not [asset for asset in assets if asset.startswith(("http:", "https:", "//"))], assets
    scripts_and_styles = [asset for asset in assets if asset.endswith((".js", ".css", ".png"))]
    for asset in scripts_and_styles:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content if response.streaming else [response.content]), asset
