"""The gateway's gunicorn worker: uvicorn with the C parser and event loop, no ASGI lifespan
(the application has no startup or shutdown hooks, and Django does not speak the protocol), and
a bounded graceful stop: in-flight requests get 2 s to finish after SIGTERM, then are cut, so a
stop never waits for gunicorn's graceful timeout to SIGKILL the worker."""
from uvicorn_worker import UvicornWorker


class GatewayWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off", "timeout_graceful_shutdown": 2}
