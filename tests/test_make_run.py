"""`make run` (scripts/run.sh → scripts/supervise.py) as a user runs it: the port is checked
first, a dead builder or cacher is restarted while the gateway keeps answering, and Ctrl-C stops
everything within 5 s, with a request in flight, printing only lines a user needs."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures_api import GUIDE_LLAMA_7B
from tests.fakes.model_servers import ModelServer
from tests.fakes.redis_fixtures import KillableRedis

ROOT = Path(__file__).resolve().parent.parent
NOISE = ("lifespan", "Error while closing socket", "StreamingHttpResponse must consume", "SIGKILL",
         "Traceback", "Control socket", "Booting worker")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    """`bash scripts/run.sh` in a session of its own (as a terminal's foreground job)."""

    def __init__(self, tmp_path: Path, **env):
        self.port = _free_port()
        self.env = {key: value for key, value in os.environ.items()
                    if key not in ("REDIS_URL", "KUBECONFIG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        self.env.update(PORT=str(self.port), DATABASE_URL=f"sqlite:///{tmp_path}/run.sqlite3", HOME=str(tmp_path),
                        LLME_AUTH_MODE="trust-username", PYTHONUNBUFFERED="1")
        self.env.update(env)
        self.log = tmp_path / "run.log"
        self.process = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=self.env, start_new_session=True,
                                        stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"make run did not answer within {timeout} s:\n{self.output()}")

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.output()}")

    def child_pid(self, fragment: str) -> int:
        """The pid of the supervised process whose command line contains `fragment`."""
        supervisor = self.process.pid
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == supervisor and fragment in cmdline:
                return int(pid)
        raise AssertionError(f"no child of make run runs {fragment!r}:\n{self.output()}")

    def ctrl_c(self) -> float:
        """Ctrl-C as a terminal sends it (SIGINT to the foreground process group); the seconds
        until `make run` has exited."""
        started = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=30)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def make_run(tmp_path):
    runs = []

    def start(**env) -> MakeRun:
        run = MakeRun(tmp_path, **env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def test_port_in_use_names_the_holder_and_how_to_pick_another(make_run):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = make_run(PORT=str(port))
        assert run.process.wait(timeout=60) != 0
    output = run.output()
    assert f"port {port} is already in use by pid {os.getpid()}" in output
    assert f"PORT={port + 1} make run" in output
    assert "migrating" not in output  # checked before anything starts


def test_ctrl_c_stops_everything_within_5_s_with_a_stream_in_flight(make_run, k8s_api):
    model = ModelServer("tgi", delay=30.0).start()
    try:
        run = make_run(KUBECONFIG=os.environ["KUBECONFIG"], LLME_ENDPOINT_URL_TEMPLATE=model.url)
        run.wait_until_up()
        body = dict(GUIDE_LLAMA_7B, name="slow", min_workers=0)  # READY once applied
        auth = ("test-user-id", "")
        assert httpx.post(f"{run.url}/v1/llm/model-endpoints", json=body, auth=auth, timeout=30).status_code == 200, run.output()
        deadline = time.monotonic() + 60
        while httpx.get(f"{run.url}/v1/llm/model-endpoints/slow", auth=auth, timeout=10).json()["status"] != "READY":
            assert time.monotonic() < deadline, run.output()
            time.sleep(0.3)

        received, ended = [], threading.Event()

        def stream():
            try:
                with httpx.stream("POST", f"{run.url}/v1/llm/completions-stream?model_endpoint_name=slow",
                                  json={"prompt": "hi", "max_new_tokens": 30, "temperature": 0.0},
                                  auth=auth, timeout=60) as response:
                    for line in response.iter_lines():
                        received.append(line)
            except httpx.HTTPError:
                pass  # cut by the stop: the connection closes, the client is not left hanging
            ended.set()

        threading.Thread(target=stream, daemon=True).start()
        deadline = time.monotonic() + 30
        while not any(line.startswith("data:") for line in received):
            assert time.monotonic() < deadline, run.output()
            time.sleep(0.05)

        took = run.ctrl_c()
        assert took <= 5.0, run.output()
        assert ended.wait(5), "the in-flight stream was left hanging"
        output = run.output()
        assert "stopped" in output
        for noise in NOISE:
            assert noise not in output, output
    finally:
        model.stop()


def test_a_killed_builder_and_cacher_are_restarted_while_the_gateway_keeps_answering(make_run, k8s_api):
    redis_server = KillableRedis()  # the builder's broker: a Redis of this test's own
    redis_server.start()
    try:
        run = make_run(KUBECONFIG=os.environ["KUBECONFIG"], REDIS_URL=redis_server.url)
        run.wait_until_up()
        answers, watching = [], threading.Event()
        watching.set()

        def watch_gateway():
            while watching.is_set():
                try:
                    answers.append(httpx.get(f"{run.url}/healthz", timeout=5).status_code)
                except httpx.HTTPError as error:
                    answers.append(repr(error))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch_gateway, daemon=True)
        watcher.start()
        for name, command in (("endpoint builder", "dramatiq"), ("cacher", "run_cacher")):  # rundramatiq execs dramatiq
            victim = run.child_pid(command)
            os.killpg(victim, signal.SIGKILL)  # its whole group, as the OOM killer would leave it
            run.wait_for_line(rf"the {name} was killed by signal 9; restarting it in 1 s")
            restarted = int(run.wait_for_line(rf"the {name} restarted \(pid (\d+)\)").group(1))
            assert restarted != victim and run.child_pid(command) == restarted

        # The restarted builder and cacher do their work: a create is built and observed READY.
        auth = ("test-user-id", "")
        body = dict(GUIDE_LLAMA_7B, name="after-restarts", min_workers=0)  # READY once applied
        assert httpx.post(f"{run.url}/v1/llm/model-endpoints", json=body, auth=auth, timeout=30).status_code == 200
        deadline = time.monotonic() + 60
        while httpx.get(f"{run.url}/v1/llm/model-endpoints/after-restarts", auth=auth, timeout=10).json()["status"] != "READY":
            assert time.monotonic() < deadline, run.output()
            time.sleep(0.3)
        watching.clear()
        watcher.join(10)
        assert len(answers) > 10 and set(answers) == {200}, answers  # the gateway never went down
        assert run.process.poll() is None
    finally:
        redis_server.close()
