"""Redis with a password from a Secret and with TLS (docs/self-hosting.md#redis): the chart gives
the control plane the password as LLME_REDIS_PASSWORD from the operator's Secret, never in a
ConfigMap, builds rediss:// URLs on request, and the application authenticates with it."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import pytest

from tests.chart.helm import ROOT, containers, find, render, sets, template_result

CONTROL_PLANE = ("llm-engine", "llm-engine-endpoint-builder", "llm-engine-cacher")
# An ElastiCache AUTH token may hold these; '#' and '/' would break a URL left unencoded.
PASSWORD = "p#ss/w0rd!&^<>-tok@en"


def _env(container: dict) -> dict:
    return {item["name"]: item for item in container.get("env", [])}


def test_password_comes_from_the_secret_into_every_control_plane_container_and_nowhere_else():
    objects = render(*sets("redis.passwordSecret.name=llm-engine-redis", "redis.passwordSecret.key=auth_token"))
    for name in CONTROL_PLANE:
        for container in containers(find(objects, "Deployment", name)):
            assert _env(container)["LLME_REDIS_PASSWORD"]["valueFrom"] == {
                "secretKeyRef": {"name": "llm-engine-redis", "key": "auth_token"}}, name
    config = find(objects, "ConfigMap", "llm-engine-config")["data"]
    assert urlsplit(config["REDIS_URL"]).password is None
    # Nothing else (image caches, hooks, other objects) refers to the Secret.
    referring = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if "llm-engine-redis" in str(o)]
    assert sorted(referring) == sorted(f"Deployment/{name}" for name in CONTROL_PLANE)


def test_no_password_secret_no_password_variable():
    objects = render()
    for name in CONTROL_PLANE:
        for container in containers(find(objects, "Deployment", name)):
            assert "LLME_REDIS_PASSWORD" not in _env(container)


def test_tls_builds_a_rediss_url_from_the_host():
    objects = render(*sets("redis.tls=true", "config.values.llm_engine.cache_redis_url="))
    url = find(objects, "ConfigMap", "llm-engine-config")["data"]["REDIS_URL"]
    assert url.startswith("rediss://") and urlsplit(url).port == 6379


def test_a_password_in_the_redis_url_is_refused_naming_the_secret_value():
    result = template_result(*sets("config.values.llm_engine.cache_redis_url=rediss://:secret@redis.example.com:6379/0"))
    assert result.returncode != 0
    assert "redis.passwordSecret.name" in result.stderr and "secret@" not in result.stderr


@pytest.fixture
def redis_with_password():
    """A redis-server of its own that requires PASSWORD."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run `make services`"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="llme-test-redis-auth-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--requirepass", PASSWORD, "--dir", workdir],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


PROBE = """
import django
django.setup()
from django.core.cache import cache
import dramatiq
cache.set("probe", {"ok": 1}, 30)
print(cache.get("probe"))
dramatiq.get_broker().client.ping()
print("broker ok")
"""


def _run_with(redis_url: str, **env) -> subprocess.CompletedProcess:
    child = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    child.update(DJANGO_SETTINGS_MODULE="llmengine_site.settings", REDIS_URL=redis_url, **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=child, capture_output=True, text=True,
                          timeout=120)


def test_the_application_authenticates_with_the_password_variable(redis_with_password):
    result = _run_with(redis_with_password, LLME_REDIS_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["{'ok':", "1}", "broker", "ok"]


def test_without_the_password_redis_refuses(redis_with_password):
    result = _run_with(redis_with_password)
    assert result.returncode != 0
    assert "AuthenticationError" in result.stderr or "NOAUTH" in result.stderr, result.stderr[-500:]
