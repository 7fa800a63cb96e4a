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


class GatewayOnPort:
    """The gateway application served on a fixed port, started and stopped at will (a gateway
    that goes down and comes back)."""

    def __init__(self, port: int):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.server = self.thread = None

    def start(self) -> None:
        from llmengine_site.asgi import application  # imported when used: loading it sets Django up

        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = None


@pytest.fixture
def gateway(transactional_db, django_db_serialized_rollback, settings):
    """Base URL of the gateway served by uvicorn, as in production (ASGI, async views)."""
    from endpoints.inference import demand, readiness, routing

    routing._local.clear()
    readiness.forget_states()
    demand.reset_clients()
    server = GatewayOnPort(_free_port())
    server.start()
    yield server.url
    server.stop()


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
