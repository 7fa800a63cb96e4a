"""The gateway's TLS and host settings as the chart passes them, in the environment
(docs/security.md#console-sign-in): with LLME_TLS_TERMINATED the console's cookies are Secure and
HSTS is sent for requests the proxy marks https; LLME_ALLOWED_HOSTS refuses other Host headers."""
import pytest

import httpx

from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def start_gateway(tmp_path):
    started = []

    def start(**env) -> GatewayProcess:
        gateway = GatewayProcess(tmp_path / f"gateway-{len(started)}.log", **env)
        started.append(gateway)
        gateway.wait_ready()
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def _csrf_cookie(response: httpx.Response) -> str:
    (cookie,) = [value for value in response.headers.get_list("set-cookie") if value.startswith("csrftoken=")]
    return cookie


def test_tls_terminated_in_front_makes_cookies_secure_and_sends_hsts(start_gateway):
    gateway = start_gateway(LLME_TLS_TERMINATED="true")
    page = httpx.get(gateway.url + LOGIN, headers=HTTPS, timeout=10)
    assert page.status_code == 200
    assert "; secure" in _csrf_cookie(page).lower()
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    # A request the proxy did not mark https gets no HSTS (browsers ignore it over http anyway).
    plain = httpx.get(gateway.url + LOGIN, timeout=10)
    assert "strict-transport-security" not in plain.headers


def test_without_tls_in_front_cookies_are_not_secure_and_no_hsts(start_gateway):
    gateway = start_gateway()
    page = httpx.get(gateway.url + LOGIN, headers=HTTPS, timeout=10)
    assert page.status_code == 200
    assert "; secure" not in _csrf_cookie(page).lower()
    assert "strict-transport-security" not in page.headers


def test_allowed_hosts_refuse_other_host_headers(start_gateway):
    gateway = start_gateway(LLME_ALLOWED_HOSTS="llm.example.com,127.0.0.1")
    assert httpx.get(gateway.url + LOGIN, headers={"Host": "llm.example.com"}, timeout=10).status_code == 200
    refused = httpx.get(gateway.url + LOGIN, headers={"Host": "evil.example.net"}, timeout=10)
    assert refused.status_code == 400


def test_by_default_any_host_is_answered(start_gateway):
    gateway = start_gateway()
    assert httpx.get(gateway.url + LOGIN, headers={"Host": "anything.example.net"}, timeout=10).status_code == 200
