"""Run a batch: send the pending items to the model server with bounded concurrency and
retries, checkpoint finished items, report progress, and write the output when every worker
is done.

Failure rules:
- an item the server refuses (4xx other than 429), or that still fails after `max_retries`
  retries of 429/5xx/timeouts, is recorded as failed (output null, error kept) — the batch
  goes on;
- the server refusing connections is not an item's fault: the runner waits for `/health` to
  answer again (the sidecar restarts by itself) for up to `server_wait_seconds`, then stops
  with exit code 3 (checkpoint kept, so the Job's next pod resumes);
- SIGTERM (pod deleted or evicted): finished items are checkpointed, exit code 143.
"""
import asyncio
import json
import logging
import signal
import time
from collections import deque
from dataclasses import dataclass

import httpx

from jobs.batch_runner import locations
from jobs.batch_runner.checkpoint import Checkpoint
from jobs.batch_runner.work import ContentError, ItemError, Work

logger = logging.getLogger("jobs.batch_runner")

EXIT_OK, EXIT_FATAL, EXIT_SERVER_UNAVAILABLE, EXIT_TERMINATED = 0, 1, 3, 143
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
ERROR_TEXT_LIMIT = 500


class Fatal(Exception):
    """The batch cannot go on in this pod; the message says why and what to do."""


class ServerUnavailable(Fatal):
    pass


@dataclass
class RunnerConfig:
    """Everything the runner needs; `from_job_config` reads it from the job's config file."""

    content: object
    input_location: str | None
    output_location: str
    state_location: str
    served_model: str
    server_url: str = "http://127.0.0.1:5005"
    workers: int = 1
    worker: int = 0
    max_concurrency: int = 32
    max_retries: int = 4
    request_timeout_seconds: float = 600.0
    server_wait_seconds: float = 1800.0
    checkpoint_every: int = 100
    checkpoint_seconds: float = 10.0
    retry_base_seconds: float = 0.5

    @classmethod
    def from_job_config(cls, config: dict, env: dict) -> "RunnerConfig":
        runner = config.get("runner") or {}
        missing = [key for key in ("output_data_path", "state_location") if not config.get(key)]
        if missing:
            raise Fatal(f"the job config lacks {', '.join(missing)}")
        known = {name for name in cls.__dataclass_fields__}
        tuning = {key: value for key, value in runner.items() if key in known}
        return cls(
            content=config.get("content"),
            input_location=config.get("input_location") or config.get("input_data_path"),
            output_location=config["output_data_path"],
            state_location=config["state_location"],
            served_model=(config.get("model_cfg") or {}).get("model") or "model",
            server_url=env.get("LLME_BATCH_SERVER_URL") or runner.get("server_url") or cls.server_url,
            workers=max(1, int(config.get("data_parallelism") or 1)),
            worker=int(env.get("JOB_COMPLETION_INDEX") or 0),
            **{key: value for key, value in tuning.items() if key != "server_url"},
        )


def _short(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT] + "…"


class Runner:
    def __init__(self, config: RunnerConfig):
        self.config = config
        self.checkpoint = Checkpoint(config.state_location, config.worker)
        self.work: Work | None = None
        self.buffer: list[dict] = []
        self.completed = self.failed = self.total = 0
        self.last_flush = time.monotonic()
        self.flush_lock = asyncio.Lock()
        self.server_lock = asyncio.Lock()

    # -- input and state -----------------------------------------------------------------
    def load_work(self) -> Work:
        content = self.config.content
        if content is None:
            if not self.config.input_location:
                raise Fatal("neither content nor input_data_path is given")
            raw = locations.read(self.config.input_location)
            try:
                content = json.loads(raw)
            except ValueError as exc:
                raise Fatal(f"{self.config.input_location} is not JSON ({exc}); it must hold the content "
                            "object or a list of requests") from exc
        try:
            return Work.parse(content, self.config.served_model)
        except ContentError as exc:
            raise Fatal(str(exc)) from exc

    def mine(self, total: int) -> list[int]:
        return [index for index in range(total) if index % self.config.workers == self.config.worker]

    def report(self, *, done: bool = False, error: str | None = None) -> None:
        self.checkpoint.write_progress(workers=self.config.workers, batch_total=self.work.total, total=self.total,
                                       completed=self.completed, failed=self.failed, done=done, error=error)

    async def flush(self, *, force: bool = False) -> None:
        """Checkpoint the finished items when due (or `force`). Lanes never wait for a write
        in progress: their items go into the next one."""
        if not force:
            due = len(self.buffer) >= self.config.checkpoint_every or \
                time.monotonic() - self.last_flush >= self.config.checkpoint_seconds
            if not due or not self.buffer or self.flush_lock.locked():
                return
        async with self.flush_lock:
            records, self.buffer = self.buffer, []
            await asyncio.to_thread(self.checkpoint.save, records)
            self.last_flush = time.monotonic()
            await asyncio.to_thread(self.report)
            logger.info("worker %s: %s/%s items done (%s failed)", self.config.worker, self.completed, self.total,
                        self.failed)

    # -- the model server ------------------------------------------------------------------
    async def wait_for_server(self, client: httpx.AsyncClient) -> None:
        """Return once `/health` answers 200; ServerUnavailable after `server_wait_seconds`."""
        async with self.server_lock:
            deadline = time.monotonic() + self.config.server_wait_seconds
            while True:
                try:
                    if (await client.get("/health", timeout=10)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    raise ServerUnavailable(
                        f"the model server at {self.config.server_url} did not answer /health for "
                        f"{self.config.server_wait_seconds:.0f} s; see the vllm container's log")
                await asyncio.sleep(1.0)

    async def run_item(self, client: httpx.AsyncClient, index: int) -> dict:
        try:
            path, body = self.work.request(index)
        except ItemError as exc:
            return {"i": index, "o": None, "e": str(exc)}
        attempt = 0
        while True:
            try:
                response = await client.post(path, json=body)
            except httpx.ConnectError:
                await self.wait_for_server(client)  # the server is down: not this item's fault
                continue
            except httpx.TransportError as exc:  # timeouts, connections cut mid-answer
                attempt += 1
                if attempt > self.config.max_retries:
                    return {"i": index, "o": None, "e": _short(f"no answer after {attempt} attempts: {exc!r}")}
                await asyncio.sleep(self.config.retry_base_seconds * 2 ** (attempt - 1))
                continue
            if response.status_code == 200:
                try:
                    return {"i": index, "o": self.work.output(index, response.json()), "e": None}
                except (ValueError, ItemError) as exc:
                    return {"i": index, "o": None, "e": _short(str(exc))}
            if response.status_code in RETRY_STATUSES and attempt < self.config.max_retries:
                attempt += 1
                await asyncio.sleep(self.config.retry_base_seconds * 2 ** (attempt - 1))
                continue
            return {"i": index, "o": None, "e": _short(f"HTTP {response.status_code}: {response.text}")}

    async def send(self, pending: list[int]) -> None:
        queue = deque(pending)
        limits = httpx.Limits(max_connections=self.config.max_concurrency,
                              max_keepalive_connections=self.config.max_concurrency)
        timeout = httpx.Timeout(self.config.request_timeout_seconds, connect=10)
        async with httpx.AsyncClient(base_url=self.config.server_url, timeout=timeout, limits=limits) as client:
            await self.wait_for_server(client)

            async def lane() -> None:
                while queue:
                    record = await self.run_item(client, queue.popleft())
                    self.completed += 1
                    self.failed += record["e"] is not None
                    self.buffer.append(record)
                    await self.flush()

            await asyncio.gather(*(lane() for _ in range(min(self.config.max_concurrency, len(pending)))))

    # -- the output --------------------------------------------------------------------------
    def assemble(self) -> bool:
        """Write the output if every item of the batch is checkpointed; whether it was."""
        records = self.checkpoint.load()
        if any(index not in records for index in range(self.work.total)):
            return False
        outputs = [records[index][0] for index in range(self.work.total)]
        errors = [{"index": index, "error": records[index][1]} for index in range(self.work.total)
                  if records[index][1] is not None]
        locations.write(self.config.output_location, json.dumps(outputs).encode())
        locations.write(self.config.output_location + ".errors.json", json.dumps(errors).encode())
        logger.info("wrote %s outputs (%s failed) to %s", len(outputs), len(errors), self.config.output_location)
        return True

    async def run(self) -> int:
        self.work = self.load_work()
        mine = self.mine(self.work.total)
        finished = self.checkpoint.load()
        pending = [index for index in mine if index not in finished]
        self.total = len(mine)
        self.completed = len(mine) - len(pending)
        self.failed = sum(1 for index in mine if index in finished and finished[index][1] is not None)
        logger.info("worker %s of %s: %s items, %s already done", self.config.worker, self.config.workers,
                    self.total, self.completed)
        self.report()
        try:
            if pending:
                await self.send(pending)
        except asyncio.CancelledError:
            await asyncio.shield(self.flush(force=True))
            logger.info("terminated: %s items checkpointed; a new pod resumes from there", self.completed)
            return EXIT_TERMINATED
        except ServerUnavailable as exc:
            await self.flush(force=True)
            self.report(error=str(exc))
            raise
        await self.flush(force=True)
        self.report(done=True)
        self.checkpoint.mark_done()
        # Each worker marks itself done before looking: whichever looks last sees every mark.
        if len(self.checkpoint.done_workers()) >= self.config.workers:
            self.assemble()
        return EXIT_OK


def run(config: RunnerConfig) -> int:
    """Run to the end; the process exit code."""
    runner = Runner(config)

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await runner.run()
        except asyncio.CancelledError:
            return EXIT_TERMINATED

    try:
        return asyncio.run(main())
    except ServerUnavailable as exc:
        logger.error("%s", exc)
        return EXIT_SERVER_UNAVAILABLE
    except (Fatal, locations.LocationError) as exc:
        logger.error("batch failed: %s", exc)
        try:
            if runner.work is not None:
                runner.report(error=str(exc))
        except locations.LocationError:
            pass
        return EXIT_FATAL
