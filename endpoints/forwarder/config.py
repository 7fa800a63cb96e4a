"""The forwarder's inputs: its command line (fixed for the pod's life) and the endpoint-config
file (the mounted ConfigMap, which may change while the pod runs).

The command line is what `endpoints/manifests/forwarder.py` renders; every flag it renders is
accepted here unchanged. Flags added here are optional. Values the ConfigMap also carries
(concurrency limit, extra routes, callback URL, queue visibility, result TTL) are taken from the
file when it has them, so an update reaches running pods without a restart (a restart of a GPU
pod reloads the model weights).
"""
import argparse
import json
import logging
import os
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("endpoints.forwarder")

MODES = ("http", "queue")


@dataclass(frozen=True)
class Options:
    mode: str
    port: int
    config_path: str
    upstream: str
    predict_route: str
    healthcheck_route: str
    stream_route: str | None = None
    routes: tuple[str, ...] = ()
    max_concurrency: int = 100
    queue_backend: str | None = None
    queue_name: str | None = None
    queue_url: str | None = None
    concurrency: int = 1
    result_ttl_seconds: int = 86400
    visibility_timeout_seconds: int | None = None
    poll_wait_seconds: int = 10
    host: str = "0.0.0.0"
    health_interval_seconds: float = 2.0
    graceful_timeout_seconds: int = 600
    keep_alive_seconds: int = 65
    redis_url: str | None = None
    results_s3_bucket: str | None = None
    log_level: str = "info"


def parse_args(argv: list[str] | None = None) -> Options:
    """Options from the command line; exits with a usage message on bad or missing flags."""
    parser = argparse.ArgumentParser(prog="python -m endpoints.forwarder",
                                     description="LLM Engine endpoint sidecar.")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--config", dest="config_path", default="/workspace/endpoint_config/config.json")
    parser.add_argument("--upstream", default="http://localhost:5005")
    parser.add_argument("--predict-route", default="/predict")
    parser.add_argument("--healthcheck-route", default="/readyz")
    # http mode
    parser.add_argument("--stream-route")
    parser.add_argument("--route", dest="routes", action="append", default=[])
    parser.add_argument("--max-concurrency", type=_positive_int, default=100)
    # queue mode
    parser.add_argument("--queue-backend", choices=("sqs", "redis"))
    parser.add_argument("--queue-name")
    parser.add_argument("--queue-url")
    parser.add_argument("--concurrency", type=_positive_int, default=1)
    parser.add_argument("--result-ttl-seconds", type=_positive_int, default=86400)
    parser.add_argument("--visibility-timeout-seconds", type=_positive_int)
    # optional additions (not rendered by the builder)
    parser.add_argument("--poll-wait-seconds", type=int, default=10,
                        help="queue long-poll wait; also bounds how long a shutdown waits for it")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--health-interval-seconds", type=float, default=2.0)
    parser.add_argument("--graceful-timeout-seconds", type=int, default=600)
    parser.add_argument("--keep-alive-seconds", type=int, default=65)
    parser.add_argument("--redis-url", help="results store (default: REDIS_URL)")
    parser.add_argument("--results-s3-bucket", help="bucket for large results (default: LLME_S3_BUCKET)")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info").lower())
    namespace = parser.parse_args(argv)
    if namespace.mode == "queue" and not (namespace.queue_backend and namespace.queue_name):
        parser.error("--mode queue needs --queue-backend and --queue-name")
    values = vars(namespace)
    values["upstream"] = values["upstream"].rstrip("/")
    values["routes"] = tuple(dict.fromkeys(values["routes"]))
    return Options(**values)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class ConfigFile:
    """The endpoint-config JSON, re-read when the file changes.

    `current()` is cheap enough for the request path: it looks at the file at most every
    `check_interval` seconds. A missing or unparsable file keeps the last good content (empty
    at first) and is logged once per change, so a bad ConfigMap edit never stops serving.
    """

    def __init__(self, path: str, check_interval: float = 1.0):
        self.path = path
        self.check_interval = check_interval
        self._content: dict = {}
        self._signature = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.current()

    def current(self) -> dict:
        now = time.monotonic()
        if now - self._checked_at < self.check_interval:
            return self._content
        with self._lock:
            self._checked_at = now
            self._reload_if_changed()
        return self._content

    def _reload_if_changed(self) -> None:
        try:
            # Kubernetes swaps the ConfigMap's files through a symlink: the inode changes too.
            stat = os.stat(self.path)
            signature = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
        except OSError as error:
            signature = ("missing", str(error))
        if signature == self._signature:
            return
        self._signature = signature
        if signature[0] == "missing":
            log.warning("endpoint config %s is not readable (%s); using the command line", self.path, signature[1])
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                content = json.load(handle)
            if not isinstance(content, dict):
                raise ValueError("the top level is not an object")
        except (OSError, ValueError) as error:
            log.error("endpoint config %s is invalid (%s); keeping the previous one", self.path, error)
            return
        self._content = content
        log.info("loaded endpoint config %s", self.path)


class Settings:
    """Effective values: the config file's when present, else the command line's."""

    def __init__(self, options: Options, config: ConfigFile):
        self.options = options
        self.config = config

    def _section(self, name: str) -> dict:
        value = self.config.current().get(name)
        return value if isinstance(value, dict) else {}

    def max_concurrency(self) -> int:
        return _positive(self._section("concurrency").get("max_concurrency"), self.options.max_concurrency)

    def queue_concurrency(self) -> int:
        return _positive(self._section("concurrency").get("concurrent_requests_per_worker"),
                         self.options.concurrency)

    def extra_routes(self) -> tuple[str, ...]:
        extra = self._section("routes").get("extra")
        from_file = tuple(route for route in extra if isinstance(route, str)) if isinstance(extra, list) else ()
        return tuple(dict.fromkeys((*self.options.routes, *from_file)))

    def default_callback_url(self) -> str | None:
        value = self.config.current().get("default_callback_url")
        return value if isinstance(value, str) and value else None

    def visibility_timeout_seconds(self) -> int | None:
        return _positive(self._section("queue").get("visibility_timeout_seconds"),
                         self.options.visibility_timeout_seconds)

    def result_ttl_seconds(self) -> int:
        return _positive(self._section("queue").get("task_expires_seconds"), self.options.result_ttl_seconds)


def _positive(value, default):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
