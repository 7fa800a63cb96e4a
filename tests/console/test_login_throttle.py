"""Console sign-in is throttled (docs/security.md#console-sign-in): wrong passwords lock the
username from that address, the lockout says what happened and how it ends, and an operator
lifts it with manage.py."""
import io
import re

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command

from tests.console.conftest import PASSWORD
from tests.gateway_process import GatewayProcess

LOGIN = "/admin/login/?next=/admin/"


def _sign_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def test_twenty_wrong_passwords_then_the_right_one_is_refused_with_a_clear_message(client, operator):
    for _ in range(20):
        assert _sign_in(client, operator.username, "wrong").status_code in (200, 429)
    refused = _sign_in(client, operator.username, PASSWORD)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed sign-ins" in page
    assert f"after {settings.AXES_FAILURE_LIMIT} wrong passwords" in page
    assert f"locked for {int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes" in page
    assert f"manage.py axes_reset_username {operator.username}" in page
    assert "_auth_user_id" not in client.session


def test_the_lockout_starts_at_the_limit_and_not_before(client, operator):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, operator.username, "wrong").status_code == 200  # the form again
    accepted = _sign_in(client, operator.username, PASSWORD)
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/"
    client.logout()
    # A success clears the count: the limit applies again from zero.
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, operator.username, "wrong").status_code == 200
    assert _sign_in(client, operator.username, PASSWORD).status_code == 302


def test_an_operator_unlocks_with_axes_reset_username(client, operator):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, operator.username, "wrong")
    assert _sign_in(client, operator.username, PASSWORD).status_code == 429
    call_command("axes_reset_username", operator.username, stdout=io.StringIO())
    assert _sign_in(client, operator.username, PASSWORD).status_code == 302


def test_the_lockout_is_per_username_and_address(client, operator, viewer):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, operator.username, "wrong")
    assert _sign_in(client, operator.username, PASSWORD).status_code == 429
    # Another user from the same address, and the same user from another address, still sign in.
    assert _sign_in(client, viewer.username, PASSWORD).status_code == 302
    client.logout()
    assert _sign_in(client, operator.username, PASSWORD, address="198.51.100.20").status_code == 302



@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lockout_holds_in_the_gateway_process(django_user_model, tmp_path):
    """The gateway serves the console under ASGI (uvicorn, as the chart runs it): the same refusal,
    and the right password signs in before the limit."""
    django_user_model.objects.create_user(username="ada", password=PASSWORD, is_staff=True, is_superuser=True)
    gateway = GatewayProcess(tmp_path / "gateway.log")
    try:
        gateway.wait_ready()
        with httpx.Client(base_url=gateway.url, timeout=10) as browser:
            def sign_in(password: str) -> httpx.Response:
                form = browser.get(LOGIN).text
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
                return browser.post(LOGIN, data={"username": "ada", "password": password, "next": "/admin/",
                                                 "csrfmiddlewaretoken": token})

            assert sign_in("wrong").status_code == 200
            accepted = sign_in(PASSWORD)
            assert accepted.status_code == 302 and accepted.headers["location"] == "/admin/"
            browser.cookies.clear()
            for _ in range(settings.AXES_FAILURE_LIMIT - 1):
                assert sign_in("wrong").status_code == 200
            assert sign_in("wrong").status_code == 429  # the failure that reaches the limit
            refused = sign_in(PASSWORD)
            assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    finally:
        gateway.stop()
