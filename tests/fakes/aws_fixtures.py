"""Fixtures for AWS: moto in server mode on 127.0.0.1, reset before every test.

Our boto3 code runs unchanged against it: the `aws` fixture only sets the standard
environment (`AWS_ENDPOINT_URL`, dummy credentials, region) that boto3 reads by itself.
"""
import socket
import urllib.request

import pytest

TEST_REGION = "us-west-2"
MOTO_ACCOUNT_ID = "123456789012"  # moto's default account


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """moto's server, one per session; yields its base URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch, settings) -> str:
    """Empty AWS (moto) for this test; yields the endpoint URL boto3 now uses."""
    from llmengine_site.infra import aws as aws_adapter

    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    settings.LLME_AWS_REGION = TEST_REGION
    settings.LLME_AWS_ACCOUNT_ID = MOTO_ACCOUNT_ID  # so the ARNs we build match moto's
    aws_adapter.reset_clients()
    yield moto_server
    aws_adapter.reset_clients()
