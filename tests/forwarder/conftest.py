"""Run the real forwarder (`python -m endpoints.forwarder`, a subprocess) with the command line
and endpoint-config file the builder renders for an endpoint spec, pointed at local model
servers instead of localhost:5005."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.manifests import BundleSpec, EndpointSpec, bundle_spec_from
from endpoints.manifests.forwarder import endpoint_config, forwarder_args
from tests.fakes.aws_fixtures import free_port

REPO = Path(__file__).resolve().parents[2]
ENDPOINT_ID = "end_forwarder0000000000001"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value (returned) or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def llm_spec(framework: str, endpoint_type: str = "streaming", **overrides) -> EndpointSpec:
    """An LLM endpoint spec with the real framework bundle's routes (TGI or vLLM)."""
    bundle = llm_bundle(LLMServingInput(
        model_name="llama-7b", framework=framework, image_tag="test", num_shards=1, quantize=None,
        checkpoint_path=None, hf_repo="huggyllama/llama-7b", chat_template_override=None, framework_args={},
    ))
    return endpoint_spec(bundle_spec_from(bundle, endpoint_type), endpoint_type, **overrides)


ECHO_BUNDLE = BundleSpec(image="echo:test", command=("serve",), predict_route="/predict",
                         streaming_predict_route="/stream", healthcheck_route="/health")


def endpoint_spec(bundle: BundleSpec = ECHO_BUNDLE, endpoint_type: str = "sync", **overrides) -> EndpointSpec:
    values = dict(id=ENDPOINT_ID, name="forwarder-test", owner="team-a", created_by="user-a",
                  endpoint_type=endpoint_type, bundle=bundle, cpus="1", memory="1Gi")
    if endpoint_type == "async":
        values.update(queue_name=f"llm-engine-endpoint-id-{ENDPOINT_ID}", queue_backend="redis",
                      concurrent_requests_per_worker=2, task_expires_seconds=600)
    values.update(overrides)
    return EndpointSpec(**values)


class RunningForwarder:
    """A forwarder subprocess on a free port; its output is kept for failure messages."""

    def __init__(self, args: list[str], log_path: Path, env: dict):
        self.port = int(args[args.index("--port") + 1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "endpoints.forwarder", *args], cwd=REPO,
                                        env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, ready: bool) -> None:
        probe = "/readyz" if ready else "/healthz"

        def answers():
            if self.process.poll() is not None:
                raise AssertionError(f"forwarder exited with {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(self.url + probe, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, START_TIMEOUT, message=f"the forwarder's {probe}")

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


def builder_command_line(spec: EndpointSpec, port: int, upstream: str, config_path: Path) -> list[str]:
    """The builder's exact arguments, with only the port, upstream and config path moved."""
    args = forwarder_args(spec)
    for flag, value in (("--port", str(port)), ("--upstream", upstream), ("--config", str(config_path))):
        args[args.index(flag) + 1] = value
    return args


@pytest.fixture
def start_forwarder(tmp_path):
    """`start_forwarder(spec, upstream_url, *extra_args, ready=True, env={...})` starts the
    forwarder the builder would run for `spec` and waits for /readyz (or /healthz)."""
    running: list[RunningForwarder] = []

    def start(spec: EndpointSpec, upstream: str, *extra_args: str, ready: bool = True,
              env: dict | None = None, config: dict | None = None) -> RunningForwarder:
        config_path = tmp_path / f"config-{len(running)}.json"
        config_path.write_text(json.dumps(config if config is not None else endpoint_config(spec)))
        args = builder_command_line(spec, free_port(), upstream, config_path)
        args += ["--host", "127.0.0.1", "--health-interval-seconds", "0.2", "--graceful-timeout-seconds", "15",
                 *extra_args]
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmengine_site.settings", **(env or {})}
        forwarder = RunningForwarder(args, tmp_path / f"forwarder-{len(running)}.log", environment)
        forwarder.config_path = config_path
        running.append(forwarder)
        forwarder.wait_started(ready)
        return forwarder

    yield start
    for forwarder in running:
        forwarder.terminate()
