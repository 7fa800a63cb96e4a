"""A real ASGI gateway (uvicorn, in a thread of the test process) over the test database, and
local model servers standing in for endpoint pods."""
import socket
import threading
import time

import pytest
import uvicorn

from tests.fakes.model_servers import ModelServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway(transactional_db, django_db_serialized_rollback, settings):
    """Base URL of the gateway served by uvicorn, as in production (ASGI, async views)."""
    from endpoints.inference import demand, readiness, routing
    from llmengine_site.asgi import application

    routing._local.clear()
    readiness.forget_states()
    demand.reset_clients()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def model_server(settings):
    """Start model servers on demand: `model_server("tgi")`; the gateway reaches every endpoint
    at the last one started (LLME_ENDPOINT_URL_TEMPLATE)."""
    servers = []

    def start(protocol: str, delay: float = 0.0) -> ModelServer:
        server = ModelServer(protocol, delay=delay).start()
        servers.append(server)
        settings.LLME_ENDPOINT_URL_TEMPLATE = server.url
        return server

    yield start
    for server in servers:
        server.stop()
