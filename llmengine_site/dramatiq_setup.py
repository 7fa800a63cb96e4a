"""Runs Dramatiq workers inside the gateway process when there is no Redis (`make run` on
embedded defaults): messages go to an in-process broker and worker threads here consume them."""
import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
_started = threading.Event()


def start_inprocess_worker_if_configured(worker_threads: int = 2):
    """Start one in-process worker on the stub broker, once. Returns it, or None when a real
    broker is configured (a separate `rundramatiq` process consumes then)."""
    if not settings.DRAMATIQ_INPROCESS or _started.is_set():
        return None
    import dramatiq

    broker = dramatiq.get_broker()
    for module in ("endpoints.tasks", "jobs.tasks"):
        try:
            __import__(module)
        except ModuleNotFoundError:
            pass
    worker = dramatiq.Worker(broker, worker_threads=worker_threads)
    worker.start()
    _started.set()
    logger.info("in-process Dramatiq worker started (no REDIS_URL): queues %s", sorted(broker.get_declared_queues()))
    return worker
