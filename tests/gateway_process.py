"""A gateway worker in a process of its own (the production ASGI application under uvicorn), on
the test database and the test run's Redis, for what one process cannot show: several workers,
settings read from the environment at start."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    params = connection.settings_dict
    user = quote(params["USER"] or "", safe="")
    password = quote(params["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


class GatewayProcess:
    """One gateway worker: the production ASGI application under uvicorn, a process of its own,
    on the test database and the test run's Redis."""

    def __init__(self, log_path: Path, **extra_env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmengine_site.settings", "DATABASE_URL": _database_url(),
               "DEBUG": "false", **extra_env}
        env.pop("LLME_REQUIRE_SECRET_KEY", None)
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "llmengine_site.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--lifespan", "on"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.log_path = log_path

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway on {self.port} not ready: {self.log_path.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
