"""The console in a real browser: Playwright drives Debian's Chromium against the live server.
Screenshots of every page land in test-artifacts/screenshots/."""
import os
from pathlib import Path

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from tests.console.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def browser(transactional_db):
    """Chromium for one test, started after the test database is set up and stopped before
    it is flushed: Playwright's sync API runs the test in another contextvars context, where
    Django hands out other connection objects, so the database fixtures must not run inside it."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_browser.sh (make test does)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        connections.close_all()  # the connections opened in Playwright's context, not reachable after it


@pytest.fixture
def open_console(browser, live_server):
    """Log a user in through the login form; yields a function returning the logged-in page."""
    contexts = []

    def login(user, width: int = 1400, height: int = 1000):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server.url + reverse("admin:login"))
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(live_server.url + reverse("admin:index"))
        return page

    yield login
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_operator_finds_the_failing_endpoint_and_rebuilds_it(open_console, operator, failing_endpoint, live_server):
    page = open_console(operator)
    assert "admin/css/base.css" in page.content()  # styled pages, served by whitenoise
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).display") == "flex"
    failing = page.locator("#failing-endpoints")
    assert "cannot be pulled (ImagePullBackOff)" in failing.inner_text()
    shot(page, "01-dashboard")

    failing.get_by_role("link", name="llama-7b").click()
    page.wait_for_selector("#endpoint-reason")
    assert "ImagePullBackOff" in page.inner_text("#endpoint-reason")
    assert "ImagePullBackOff" in page.inner_text("#pods")
    page.click("#manifests summary")
    assert "kind: Deployment" in page.inner_text("#manifests pre")
    shot(page, "02-failing-endpoint")

    page.click("input[value=Rebuild]")
    page.wait_for_selector(".messagelist .success")
    assert page.inner_text(".messagelist .success") == "llama-7b: rebuild queued"  # names keep their case
    assert page.inner_text("#endpoint-status") == "UPDATE_PENDING"
    assert "rebuild requested" in page.inner_text("#event-timeline")
    shot(page, "03-rebuild-result")

    page.fill("#id_min_workers", "5")
    page.fill("#id_max_workers", "1")
    page.click("input[value=Scale]")
    page.wait_for_selector(".messagelist .error")
    assert "must not be greater than max_workers" in page.inner_text(".messagelist .error")
    shot(page, "04-scale-refused")


def test_operator_issues_an_api_key_and_sees_it_once(open_console, operator, live_server):
    page = open_console(operator)
    page.goto(live_server.url + reverse("admin:llmengine_site_apikey_add"))
    page.fill("#id_name", "ci pipeline")
    page.fill("#id_user_id", "alice")
    page.fill("#id_team_id", "research")
    page.click("input[name=_save]")
    raw_key = page.inner_text("#raw-api-key").strip()
    assert raw_key.startswith("llme-")
    shot(page, "05-api-key-created")
    page.click("text=Open the key's record")
    assert raw_key not in page.content()
    page.click("input[value='Revoke this key']")
    page.wait_for_selector(".messagelist .success")
    shot(page, "06-api-key-revoked")


def test_viewer_sees_the_endpoint_without_actions(open_console, viewer, failing_endpoint, live_server):
    page = open_console(viewer)
    page.goto(live_server.url + reverse("admin:endpoints_modelendpoint_change", args=[quote(failing_endpoint.pk)]))
    assert "ImagePullBackOff" in page.inner_text("#endpoint-reason")
    assert page.locator("#endpoint-actions").count() == 0
    shot(page, "07-viewer-endpoint")
    page.goto(live_server.url + reverse("admin:endpoints_modelendpoint_changelist"))
    assert page.locator("select[name=action] option[value=rebuild_selected]").count() == 0
    shot(page, "08-viewer-endpoint-list")


def test_docs_render_the_api_operations_without_internet(browser, live_server):
    """/docs and the landing page with every request off this machine refused: swagger-ui and its
    styles come from our static files, so the operations still render."""
    from urllib.parse import urlsplit

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    refused = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            return route.continue_()
        refused.append(route.request.url)
        return route.abort("internetdisconnected")

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(live_server.url + "/")
    assert page.locator("#link-console").get_attribute("href") == "/admin/"
    shot(page, "00-landing")
    page.click("#link-docs")
    page.wait_for_selector(".swagger-ui .opblock")
    operations = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert len(operations) > 20 and any("/v1/llm/model-endpoints" in path for path in operations)
    assert page.evaluate("getComputedStyle(document.querySelector('.swagger-ui .opblock')).borderStyle") == "solid"
    shot(page, "09-api-docs-offline")
    assert refused == []
    context.close()
