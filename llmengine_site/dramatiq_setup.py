"""Runs Dramatiq workers inside the gateway process when there is no Redis (`make run` on
embedded defaults): messages go to an in-process broker and worker threads here consume them
(docs/design.md#processes). Imported once the app registry is ready (llmengine_site/asgi.py)."""
import logging
import threading

import dramatiq
from django.conf import settings

import endpoints.tasks  # noqa: F401 — declares the `endpoints` queue and its actors on the broker
import jobs.tasks  # noqa: F401 — declares the `jobs` queue and its actors on the broker

logger = logging.getLogger(__name__)
_started = threading.Event()


def start_inprocess_worker_if_configured(worker_threads: int = 2):
    """Start one in-process worker on the stub broker, once. Returns it, or None when a real
    broker is configured (a separate `rundramatiq` process consumes then)."""
    if not settings.DRAMATIQ_INPROCESS or _started.is_set():
        return None
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_threads=worker_threads)
    worker.start()
    _started.set()
    logger.info("in-process Dramatiq worker started (no REDIS_URL): queues %s", sorted(broker.get_declared_queues()))
    return worker
