"""Local HTTP servers that speak the model servers' protocols (the outermost boundary of
inference): TGI (`/generate`, `/generate_stream`, `/health`) and vLLM's OpenAI server
(`/v1/completions`, `/v1/chat/completions`, `/v1/models`, `/health`), plus a generic echo
route (`/predict`, `/stream`) for runnable-image bundles.

Output is deterministic: `max_tokens` words " w0 w1 …", cut at the first stop sequence.
Controls for tests: `delay`, `fail_next(status, times)`, `die_mid_stream`, `requests`.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ModelServerState:
    def __init__(self, protocol: str, delay: float = 0.0):
        self.protocol = protocol  # "tgi" | "vllm" | "echo"
        self.delay = delay
        self.failures: list[int] = []
        self.die_mid_stream = False
        self.chunked_streams = False
        self.healthy = True
        self.requests: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        # `hold_after(n)`: requests after the n-th wait until `release()` (a batch "half-way").
        self.held_after: int | None = None
        self.released = threading.Event()

    def hold_after(self, count: int) -> None:
        self.held_after = count
        self.released.clear()

    def release(self) -> None:
        self.held_after = None
        self.released.set()

    def fail_next(self, status: int = 503, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def take_failure(self) -> int | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None


def words(prompt: str, count: int, stop: list[str] | None, include_stop: bool = False) -> tuple[list[str], str]:
    """Tokens and the finish reason for a prompt (the prompt itself only seeds nothing)."""
    tokens, text = [], ""
    for index in range(count):
        token = f" w{index}"
        for sequence in stop or []:
            if sequence and sequence in text + token:
                return tokens + ([token] if include_stop else []), "stop"
        tokens.append(token)
        text += token
    return tokens, "length"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers are written line by line: without TCP_NODELAY, Nagle's algorithm and delayed ACKs
    # add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    state: ModelServerState

    def log_message(self, *args):
        pass

    # -- helpers
    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: list[str]) -> None:
        """Server-sent events. By default the stream is delimited by closing the connection; with
        `chunked_streams` it is sent in chunked transfer encoding on a kept-alive connection, as
        uvicorn-served vLLM and TGI's router answer (the benchmark uses that)."""
        chunked = self.state.chunked_streams
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding" if chunked else "Connection", "chunked" if chunked else "close")
        self.end_headers()
        for index, event in enumerate(events):
            if self.state.die_mid_stream and index == 1:
                self.wfile.flush()
                self.connection.shutdown(2)
                self.close_connection = True
                return
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            self.wfile.flush()
            if self.state.delay:
                time.sleep(self.state.delay / max(len(events), 1))
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        else:
            self.close_connection = True

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {"_raw": raw.decode(errors="replace")}

    # -- routes
    def do_GET(self):
        if self.path in ("/health", "/readyz", "/healthz"):
            return self._json(200 if self.state.healthy else 503, {})
        if self.path == "/v1/models":
            return self._json(200, {"object": "list", "data": [{"id": "model", "object": "model"}]})
        return self._json(404, {"error": "not found"})

    def do_POST(self):
        body = self._body()
        with self.state.lock:
            self.state.requests.append((self.path, body))
            held = self.state.held_after is not None and len(self.state.requests) > self.state.held_after
        if held:
            self.state.released.wait(60)
        failure = self.state.take_failure()
        if failure:
            return self._json(failure, {"error": f"injected {failure}"})
        if self.state.delay and "stream" not in self.path and not body.get("stream"):
            time.sleep(self.state.delay)
        route = {
            "/generate": self._tgi, "/generate_stream": self._tgi_stream,
            "/v1/completions": self._completions, "/v1/chat/completions": self._chat,
            "/predict": self._echo, "/stream": self._echo_stream,
        }.get(self.path.split("?")[0])
        if route is None:
            return self._json(404, {"error": f"no route {self.path}"})
        return route(body)

    def _tgi(self, body):
        params = body.get("parameters") or {}
        if not isinstance(body.get("inputs"), str):
            return self._json(422, {"error": "Input validation error: `inputs` must be a string", "error_type": "validation"})
        tokens, reason = words(body["inputs"], int(params.get("max_new_tokens") or 20), params.get("stop"))
        details = {"finish_reason": reason, "generated_tokens": len(tokens),
                   "prefill": [{"text": w, "logprob": None} for w in body["inputs"].split()],
                   "tokens": [{"id": i, "text": t, "logprob": -0.5, "special": False} for i, t in enumerate(tokens)]}
        return self._json(200, {"generated_text": "".join(tokens), "details": details})

    def _tgi_stream(self, body):
        params = body.get("parameters") or {}
        tokens, reason = words(body.get("inputs", ""), int(params.get("max_new_tokens") or 20), params.get("stop"))
        events = []
        for index, token in enumerate(tokens):
            last = index == len(tokens) - 1
            events.append(json.dumps({
                "token": {"id": index, "text": token, "logprob": -0.5, "special": False},
                "generated_text": "".join(tokens) if last else None,
                "details": {"finish_reason": reason, "generated_tokens": len(tokens)} if last else None,
            }))
        self._stream(events)

    def _choice_tokens(self, body, prompt: str):
        return words(prompt, int(body.get("max_tokens") or 16), _as_list(body.get("stop")),
                     bool(body.get("include_stop_str_in_output")))

    def _completions(self, body):
        prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else " ".join(body.get("prompt") or [])
        if body.get("guided_choice"):
            tokens, reason = [body["guided_choice"][0]], "stop"
        elif body.get("guided_json") is not None:
            tokens, reason = [json.dumps({"answer": "w0"})], "stop"
        else:
            tokens, reason = self._choice_tokens(body, prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(tokens),
                 "total_tokens": len(prompt.split()) + len(tokens)}
        logprobs = ({"tokens": tokens, "token_logprobs": [-0.5] * len(tokens)} if body.get("logprobs") else None)
        if body.get("stream"):
            events = [json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
                                  "choices": [{"index": 0, "text": t, "finish_reason": None,
                                               "logprobs": {"tokens": [t], "token_logprobs": [-0.5]} if body.get("logprobs") else None}]})
                      for t in tokens]
            events.append(json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
                                      "choices": [{"index": 0, "text": "", "finish_reason": reason}], "usage": usage}))
            events.append("[DONE]")
            return self._stream(events)
        return self._json(200, {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body.get("model"),
                                "choices": [{"index": 0, "text": "".join(tokens), "finish_reason": reason, "logprobs": logprobs}],
                                "usage": usage})

    def _chat(self, body):
        messages = body.get("messages") or []
        prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        tokens, reason = self._choice_tokens(body, prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(tokens),
                 "total_tokens": len(prompt.split()) + len(tokens)}
        if body.get("stream"):
            events = [json.dumps({"id": "chat-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                                  "choices": [{"index": 0, "delta": {"role": "assistant", "content": t}, "finish_reason": None}]})
                      for t in tokens]
            events.append(json.dumps({"id": "chat-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                                      "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
            events.append("[DONE]")
            return self._stream(events)
        return self._json(200, {"id": "chat-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                                             "finish_reason": reason}], "usage": usage})

    def _echo(self, body):
        return self._json(200, {"echo": body})

    def _echo_stream(self, body):
        self._stream([json.dumps({"echo": body, "part": index}) for index in range(3)])


def _as_list(value):
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the default backlog of 5 drops connections under load

    def handle_error(self, request, client_address):
        pass  # a client closing a stream early is normal here


class ModelServer:
    """`with ModelServer("tgi") as server: server.url` — a model server on 127.0.0.1."""

    def __init__(self, protocol: str, delay: float = 0.0, port: int = 0):
        self.state = ModelServerState(protocol, delay)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> "ModelServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.fakes.model_servers tgi --port 5005`: a model server as a process, the
    stand-in for a framework image in pods run by the fake kubelet (tests/fakes/kubelet.py)."""
    import argparse
    import os
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("protocol", choices=("tgi", "vllm", "echo"))
    parser.add_argument("--port", type=int, required=True)
    args, _ignored = parser.parse_known_args(argv)  # the image's own launch flags do not apply
    server = ModelServer(args.protocol, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
