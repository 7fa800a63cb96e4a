"""What the gateway adds to a model's own latency, measured in one run (no timed tests).

Starts local TGI- and vLLM-protocol servers with a fixed delay, a real gateway (gunicorn +
uvicorn worker, one worker process) on a fresh SQLite database with Redis for the in-flight
counter, creates one endpoint per protocol, then sends the same requests directly to the model
server and through the gateway:
  - sequentially: added p50 / p99 latency (ms)
  - at 64 concurrent: throughput ratio gateway / direct
  - streaming: added time to first token (ms)
and reports the peak memory (VmHWM) of the gateway worker process.

Run: `make bench` (or `.venv/bin/python bench/gateway_overhead.py --requests 300`).
Targets on a 2-core machine: p50 ≤ 2 ms, p99 ≤ 10 ms added; ratio ≥ 0.8; ≤ 200 MB per worker.
"""
import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fakes.model_servers import ModelServer  # noqa: E402

AUTH = ("bench-user", "")


class RemoteModelServer:
    """A model server in a process of its own, so the load generator does not share its GIL."""

    def __init__(self, protocol: str, delay: float):
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(protocol, delay, child), daemon=True)
        self.process.start()
        self.url = parent.recv()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def _serve(protocol: str, delay: float, pipe) -> None:
    server = ModelServer(protocol, delay=delay).start()
    pipe.send(server.url)
    signal.pause()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start_gateway(model_url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
           "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
           "LLME_AUTH_MODE": "trust-username", "LLME_ENDPOINT_URL_TEMPLATE": model_url,
           "LLME_VAR_DIR": str(workdir), "LOG_LEVEL": "WARNING"}
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    process = subprocess.Popen(
        [python, "-m", "gunicorn", "llmengine_site.asgi:application", "-k", "uvicorn_worker.UvicornWorker",
         "-b", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the gateway did not start: " + process.stderr.read().decode()[-2000:])


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0]) if children else master


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def create_endpoints(gateway: str) -> None:
    tgi = {"name": "bench-tgi", "model_name": "llama-7b", "inference_framework": "text_generation_inference",
           "inference_framework_image_tag": "0.9.3", "num_shards": 1, "endpoint_type": "streaming", "cpus": 4,
           "gpus": 1, "memory": "16Gi", "storage": "40Gi", "gpu_type": "nvidia-ampere-a10", "min_workers": 1,
           "max_workers": 1, "per_worker": 1}
    vllm = {**tgi, "name": "bench-vllm", "model_name": "llama-2-7b", "inference_framework": "vllm",
            "inference_framework_image_tag": "0.6.3"}
    for body in (tgi, vllm):
        response = httpx.post(f"{gateway}/v1/llm/model-endpoints", json=body, auth=AUTH, timeout=10)
        response.raise_for_status()


async def timed(client: httpx.AsyncClient, method_url_body) -> float:
    """Seconds for one request. A keep-alive connection closed under the client is retried once
    (it says nothing about either side's speed); anything else fails the run."""
    url, body = method_url_body
    for attempt in range(2):
        started = time.perf_counter()
        try:
            response = await client.post(url, json=body)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if attempt:
                raise
            continue
        response.raise_for_status()
        return time.perf_counter() - started


async def sequential(client, direct, via, count: int) -> tuple[list[float], list[float]]:
    """Latencies of `count` direct and `count` gateway requests, alternated so that both see the
    same machine conditions (the difference is what the gateway adds, not drift)."""
    for _ in range(20):
        await timed(client, direct)  # warm up connections and caches
        await timed(client, via)
    direct_times, via_times = [], []
    for _ in range(count):
        direct_times.append(await timed(client, direct))
        via_times.append(await timed(client, via))
    return direct_times, via_times


async def concurrent(client, target, count: int, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one():
        async with semaphore:
            await timed(client, target)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def first_token(client, url: str, body: dict, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        async with client.stream("POST", url, json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    times.append(time.perf_counter() - started)
                    break
    return times


async def measure(gateway: str, servers: dict, args) -> list[tuple]:
    rows = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(auth=AUTH, timeout=60, limits=limits) as client:
        for protocol, server in servers.items():
            name = f"bench-{protocol}"
            v1 = {"prompt": "hello there", "max_new_tokens": 8, "temperature": 0.1}
            if protocol == "tgi":
                direct = (f"{server.url}/generate", {"inputs": "hello there", "parameters": {"max_new_tokens": 8}})
                direct_stream = (f"{server.url}/generate_stream", direct[1])
            else:
                direct = (f"{server.url}/v1/completions", {"model": "llama-2-7b", "prompt": "hello there", "max_tokens": 8})
                direct_stream = (f"{server.url}/v1/completions", {**direct[1], "stream": True})
            via = (f"{gateway}/v1/llm/completions-sync?model_endpoint_name={name}", v1)
            direct_seq, via_seq = await sequential(client, direct, via, args.requests)
            # Alternate the two, twice, so that both see the same conditions.
            direct_rps = via_rps = 0.0
            for _ in range(2):
                direct_rps += await concurrent(client, direct, args.concurrent_requests, 64) / 2
                via_rps += await concurrent(client, via, args.concurrent_requests, 64) / 2
            direct_ttft = await first_token(client, *direct_stream, count=args.stream_requests)
            via_ttft = await first_token(client, f"{gateway}/v1/llm/completions-stream?model_endpoint_name={name}",
                                         v1, count=args.stream_requests)
            rows.append((protocol,
                         (statistics.median(via_seq) - statistics.median(direct_seq)) * 1000,
                         (percentile(via_seq, 0.99) - percentile(direct_seq, 0.99)) * 1000,
                         via_rps / direct_rps, direct_rps, via_rps,
                         (statistics.median(via_ttft) - statistics.median(direct_ttft)) * 1000))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per measurement")
    parser.add_argument("--concurrent-requests", type=int, default=1500, help="requests in the 64-concurrent run")
    parser.add_argument("--stream-requests", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02, help="model server delay in seconds")
    args = parser.parse_args()
    servers = {"tgi": RemoteModelServer("tgi", args.delay), "vllm": RemoteModelServer("vllm", args.delay)}
    with tempfile.TemporaryDirectory() as tmp:
        # LLME_ENDPOINT_URL_TEMPLATE names one server: one gateway per protocol, one after the other.
        results = []
        for protocol, server in servers.items():
            process, gateway = start_gateway(server.url, Path(tmp) / protocol)
            try:
                create_endpoints(gateway)
                print(f"measuring {protocol} (model delay {args.delay * 1000:.0f} ms) ...", flush=True)
                rows = asyncio.run(measure(gateway, {protocol: server}, args))
                results.extend((*row, peak_rss_mb(worker_pid(process.pid))) for row in rows)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        for server in servers.values():
            server.stop()
    print()
    print("protocol  added p50 ms  added p99 ms  throughput ratio (64 conc.)  direct rps  gateway rps  added TTFT ms  worker peak RSS MB")
    for protocol, p50, p99, ratio, direct_rps, via_rps, ttft, rss in results:
        print(f"{protocol:8}  {p50:12.2f}  {p99:12.2f}  {ratio:27.2f}  {direct_rps:10.0f}  {via_rps:11.0f}  {ttft:13.2f}  {rss:18.0f}")


if __name__ == "__main__":
    (Path(ROOT) / "var").mkdir(exist_ok=True)
    main()
