"""A local HTTP server in a thread of the test process that hands every POST to the `answer`
method of a subclass: stand-ins for the gateway a forwarder reports to, or a callback URL."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PostServer:
    """Subclasses define `answer(path, headers, body) -> (status, response body bytes)`.
    `url` is known inside the `with` block."""

    def answer(self, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def __enter__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, content = owner.answer(self.path, dict(self.headers), body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
