"""`python -m endpoints.forwarder --mode http|queue ...`: see `config.parse_args` for the flags.

Exit status: 2 for bad flags, 1 when the forwarder cannot start (e.g. queue mode on SQS without
its report token, or on Redis without a Redis URL). On SIGTERM it stops accepting, finishes in-flight requests and tasks
within `--graceful-timeout-seconds`, then ends by that signal (uvicorn re-raises it).
"""
import logging
import os
import sys

import uvicorn

from endpoints import report_tokens
from endpoints.forwarder.config import ConfigFile, Options, Settings, parse_args
from llmengine_site.names import endpoint_id_from_queue_name, endpoint_queue_name

log = logging.getLogger("endpoints.forwarder")


def configure_environment(options: Options) -> None:
    """Map flags onto the variables `llmengine_site.settings` reads, before anything reads it
    (queue mode uses the project's queue and AWS adapters, which read Django settings)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmengine_site.settings")
    if options.queue_backend:
        os.environ["LLME_QUEUE_BACKEND"] = options.queue_backend
    if options.redis_url:
        os.environ["REDIS_URL"] = options.redis_url
    if options.results_s3_bucket:
        os.environ["LLME_S3_BUCKET"] = options.results_s3_bucket
    # The builder sets AWS_REGION on the container; settings fall back to AWS_DEFAULT_REGION only.
    if "LLME_AWS_REGION" not in os.environ and os.environ.get("AWS_REGION"):
        os.environ["LLME_AWS_REGION"] = os.environ["AWS_REGION"]


def build_app(options: Options):
    settings = Settings(options, ConfigFile(options.config_path))
    if options.mode == "http":
        from endpoints.forwarder.http_proxy import HttpProxy  # each mode loads only its own modules

        return HttpProxy(settings)
    return build_queue_worker(settings)


def build_queue_worker(settings: Settings):
    from django.conf import settings as django_settings

    # Queue mode's modules read Django settings: loaded after configure_environment has set them.
    from endpoints.forwarder.queue_worker import QueueWorker

    options = settings.options
    endpoint_id = (endpoint_id_from_queue_name(options.queue_name) or os.environ.get("LLME_ENDPOINT_ID")
                   or settings.config.current().get("endpoint_id"))
    if not endpoint_id or endpoint_queue_name(endpoint_id) != options.queue_name:
        raise SystemExit(f"--queue-name {options.queue_name!r} is not the queue of an endpoint "
                         f"(expected {endpoint_queue_name(endpoint_id or '<endpoint id>')!r})")
    if options.queue_backend == "sqs":
        return QueueWorker(settings, endpoint_id, gateway_results(django_settings, endpoint_id))
    return QueueWorker(settings, endpoint_id, redis_results(django_settings, endpoint_id))


def gateway_results(django_settings, endpoint_id: str):
    """SQS backend: task state goes to the gateway, with the endpoint's report token."""
    # Loaded after configure_environment, like the queue worker (they read Django settings).
    from endpoints.forwarder.task_reports import GatewayResults

    token = os.environ.get(report_tokens.ENV, "")
    if not token or not django_settings.LLME_GATEWAY_URL:
        raise SystemExit(f"queue mode on SQS reports task state to the gateway: set {report_tokens.ENV} "
                         "(the endpoint's forwarder Secret) and LLME_GATEWAY_URL")
    return lambda worker: GatewayResults(django_settings.LLME_GATEWAY_URL, token, endpoint_id,
                                         worker.run_io, worker.pause, worker.stopping)


def redis_results(django_settings, endpoint_id: str):
    """Redis backend: task state goes to Redis as the endpoint's own Redis user."""
    import redis

    # Loaded after configure_environment, like the queue worker (they read Django settings).
    from endpoints.forwarder.task_reports import RedisResults

    if not django_settings.REDIS_URL:
        raise SystemExit("queue mode on the Redis backend stores results in Redis: set REDIS_URL (or --redis-url)")
    client = redis.Redis.from_url(django_settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5,
                                  health_check_interval=30)
    return lambda worker: RedisResults(client, endpoint_id, worker.run_io)


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    logging.basicConfig(level=options.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call is noise
    configure_environment(options)
    app = build_app(options)
    log.info("forwarder starting in %s mode on port %d, upstream %s", options.mode, options.port, options.upstream)
    server = uvicorn.Server(uvicorn.Config(
        app, host=options.host, port=options.port, lifespan="on", loop="asyncio", http="h11",
        access_log=False, log_level=options.log_level, log_config=None,
        # Longer than the gateway's pooled-connection expiry, so the gateway never reuses a
        # connection this side has just closed.
        timeout_keep_alive=options.keep_alive_seconds,
        timeout_graceful_shutdown=options.graceful_timeout_seconds,
    ))
    server.run()
    if not server.started:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
