"""Settings for the test run: real PostgreSQL and Redis, started by `make test`.

Each run has its own names, so two runs on one machine (two checkouts, CI beside a developer)
never share state: the test database is `test_llmengine_<run id>` and Redis is a private
`redis-server` on a free port that lives as long as the run. Child processes inherit
`REDIS_URL` and `LLME_TEST_RUN_ID` and reuse both. Set before the project's settings read the
environment."""
import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_private_redis() -> str:
    """A redis-server of this run only (no persistence), stopped when the run ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make services` (or `make test`, which does it)")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="llme-test-redis-")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", workdir, "--logfile", os.path.join(workdir, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return f"redis://127.0.0.1:{port}/15"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the test run's redis-server did not start on port {port}; see {workdir}/redis.log")


os.environ.setdefault("LLME_TEST_RUN_ID", uuid.uuid4().hex[:8])
RUN_ID = os.environ["LLME_TEST_RUN_ID"]
os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/llmengine")
if "REDIS_URL" not in os.environ:
    os.environ["REDIS_URL"] = _start_private_redis()
os.environ.setdefault("LLM_ENGINE_DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from llmengine_site.settings import *  # noqa: E402,F401,F403
from llmengine_site.settings import DATABASES  # noqa: E402

DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_llmengine_{RUN_ID}"
