"""A Redis the test owns and can kill: `killable_redis` starts a private redis-server, points the
cache and every actor's Dramatiq broker at it, and yields control (`kill()`, `start()` on the same
port). The run's shared private Redis (tests/settings.py) is never touched."""
import shutil
import socket
import subprocess
import tempfile
import time

import dramatiq
import pytest
from django.utils.module_loading import import_string
from dramatiq.brokers.redis import RedisBroker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KillableRedis:
    """A private redis-server on a port of its own; `args` are extra server flags (e.g. a password,
    a renamed command)."""

    def __init__(self, *args: str):
        self.port = _free_port()
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="llme-test-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: run `make services`"
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.workdir, *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def killable_redis(settings, monkeypatch):
    """Cache and broker on a Redis this test may kill and restart."""
    import endpoints.tasks  # noqa: F401  (declares the actors on the broker; the app registry is ready only here)
    import jobs.tasks  # noqa: F401

    server = KillableRedis()
    server.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    settings.REDIS_URL = server.url  # the gateway's in-flight counts (endpoints/inference/demand.py)
    config = settings.DRAMATIQ_BROKER
    broker = RedisBroker(url=server.url, namespace="llme-dramatiq",
                         middleware=[import_string(path)() for path in config["MIDDLEWARE"]])
    for actor in list(dramatiq.get_broker().actors.values()):
        monkeypatch.setattr(actor, "broker", broker)
        broker.declare_actor(actor)
    yield server, broker
    broker.close()
    server.close()
