"""Queue mode: run the async tasks of an endpoint from its queue (SQS or Redis).

Message body (written by the gateway):
    {"task_id", "owner", "submitted_at", "expires_at": epoch seconds,
     "payload": {"args", "url", "callback_url", "callback_auth", "return_pickled", "destination_path"}}

Guarantees:
- At least once, never forever: a message is deleted only after its outcome is stored (in
  Redis on the Redis backend, by the gateway on SQS: `task_reports`); a
  message received more than `MAX_RECEIVES` times (its worker kept dying) is recorded as
  FAILURE and deleted; a message past `expires_at` is recorded as FAILURE without running.
- A task whose result is already stored is not run again (a redelivered message is dropped).
- While a task runs, and while its outcome is being stored (a gateway down is retried), its
  message stays hidden: visibility is extended every half timeout.
- Tasks are received only while the main container is healthy, at most `concurrency` at once.
- Unreachable model server, 429 or 503: the message comes back after `RETRY_DELAY_SECONDS`
  (counted as a delivery); other upstream errors are final (FAILURE with status and text).
- After the outcome is stored, the callback URL (the task's, else the endpoint's default) gets
  `{"task_id", "status", "result"}`; a callback failure is logged, never changes the task.
"""
import asyncio
import base64
import concurrent.futures
import json
import logging
import time
from dataclasses import dataclass

import httpx

from endpoints import task_results
from endpoints.forwarder.asgi import answer_probe, send_json, serve_lifespan, upstream_client, UpstreamHealth
from endpoints.forwarder.config import Settings
from endpoints.forwarder.task_reports import ReportNotDelivered, ReportRefused
from llmengine_site.infra import queues
from llmengine_site.errors import InfraError

log = logging.getLogger("endpoints.forwarder")

MAX_RECEIVES = 3
RETRY_DELAY_SECONDS = 5
RETRYABLE_STATUSES = (429, 503)
TRACEBACK_MAX_CHARS = 64 * 1024
CALLBACK_ATTEMPTS = 3
CALLBACK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Outcome:
    status: str
    result: object = None
    traceback: str | None = None
    status_code: int | None = None
    retry: bool = False  # transient: let the queue deliver the message again


class QueueWorker:
    """The queue-mode ASGI application: probes on the port, the consumer in the background."""

    def __init__(self, settings: Settings, endpoint_id: str, results_factory):
        """`results_factory(worker)`: where task state goes (`task_reports`), given the worker
        (its I/O pool, pause and stop state)."""
        self.settings = settings
        self.options = settings.options
        self.endpoint_id = endpoint_id
        self.active: set[asyncio.Task] = set()
        self.client: httpx.AsyncClient | None = None
        self.health: UpstreamHealth | None = None
        self._stop = asyncio.Event()
        self._consumer: asyncio.Task | None = None
        # Queue and Redis clients block; a pool of their own keeps them off the event loop
        # without competing with the default executor's few threads.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=2 * self.options.concurrency + 4, thread_name_prefix="forwarder-io")
        self.results = results_factory(self)

    # -- lifecycle
    async def startup(self) -> None:
        self._stop = asyncio.Event()
        self.client = upstream_client()
        self.health = UpstreamHealth(self.client, self.options.upstream + self.options.healthcheck_route,
                                     self.options.health_interval_seconds)
        self.health.start()
        self._consumer = asyncio.create_task(self._consume())

    async def shutdown(self) -> None:
        """Stop receiving; let running tasks finish (bounded by the graceful timeout)."""
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._consumer), self.options.graceful_timeout_seconds)
        except asyncio.TimeoutError:
            log.warning("%d tasks still running at shutdown; their messages will be delivered again",
                        len(self.active))
            self._consumer.cancel()
        await self.health.stop()
        await self.client.aclose()
        await self.results.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await serve_lifespan(receive, send, self.startup, self.shutdown)
        if scope["type"] == "http":
            if not (scope["method"] == "GET" and await answer_probe(scope["path"], send, self.health)):
                await send_json(send, 404, {"detail": "This endpoint is asynchronous: submit tasks to the gateway"})

    # -- consuming
    async def _consume(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            if not self.health.ready:
                await self.pause(0.5)
                continue
            free = self.settings.queue_concurrency() - len(self.active)
            if free <= 0:
                await asyncio.wait(self.active, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await self.run_io(queues.receive_messages, self.endpoint_id, min(free, 10),
                                          self.options.poll_wait_seconds, self.settings.visibility_timeout_seconds())
                backoff = 1.0
            except InfraError as error:
                log.error("cannot receive from the queue (retrying in %.0f s): %s", backoff, error)
                await self.pause(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for message in messages:
                if self._stop.is_set():  # received during the last poll: hand it back at once
                    await self._quietly(queues.change_visibility, self.endpoint_id, message.receipt, 0)
                    continue
                task = asyncio.create_task(self._handle(message))
                self.active.add(task)
                task.add_done_callback(self.active.discard)
        await asyncio.gather(*self.active, return_exceptions=True)

    async def _handle(self, message: queues.QueueMessage) -> None:
        try:
            await self._run(message)
        except (ReportNotDelivered, ReportRefused) as error:
            # The message stays in flight and comes back after its visibility timeout.
            log.error("%s", error)
        except Exception:
            # The message stays in flight and comes back after its visibility timeout.
            log.exception("task in message %s failed in the forwarder", message.id)

    async def _run(self, message: queues.QueueMessage) -> None:
        try:
            envelope = _parse(message.body)
        except ValueError as error:
            log.error("dropping malformed message %s: %s", message.id, error)
            return await self.run_io(queues.delete_message, self.endpoint_id, message.receipt)
        # The message stays hidden while the task runs and while its outcome is being reported.
        keeper = asyncio.create_task(self._keep_hidden(message))
        try:
            retry_later = await self._process(message, envelope)
        finally:
            keeper.cancel()
        if retry_later:
            await self.run_io(queues.change_visibility, self.endpoint_id, message.receipt, RETRY_DELAY_SECONDS)

    async def _process(self, message: queues.QueueMessage, envelope: dict) -> bool:
        """Run the task and store its outcome; True when the message should come back soon."""
        task_id = envelope["task_id"]
        if not await self.results.start(task_id):  # finished already: a redelivered message
            await self.run_io(queues.delete_message, self.endpoint_id, message.receipt)
            return False
        if message.receive_count > MAX_RECEIVES:
            await self._finish(message, envelope, Outcome(
                task_results.FAILURE, f"The task was delivered {message.receive_count} times without completing"))
            return False
        expires_at = envelope.get("expires_at")
        if isinstance(expires_at, (int, float)) and time.time() > expires_at:
            await self._finish(message, envelope, Outcome(task_results.FAILURE, "task expired before it ran"))
            return False
        outcome = await self._call_model(envelope["payload"])
        if outcome.retry and message.receive_count < MAX_RECEIVES:
            log.warning("task %s: %s; trying again in %d s", task_id, outcome.result, RETRY_DELAY_SECONDS)
            return True
        await self._finish(message, envelope, outcome)
        return False

    async def _finish(self, message: queues.QueueMessage, envelope: dict, outcome: Outcome) -> None:
        task_id = envelope["task_id"]
        await self.results.finish(task_id, outcome, self.settings.result_ttl_seconds())
        await self.run_io(queues.delete_message, self.endpoint_id, message.receipt)
        log.info("task %s: %s", task_id, outcome.status)
        payload = envelope.get("payload") or {}
        url = payload.get("callback_url") or self.settings.default_callback_url()
        if url:
            await self._callback(url, payload.get("callback_auth"),
                                 {"task_id": task_id, "status": outcome.status, "result": outcome.result})

    async def _call_model(self, payload: dict) -> Outcome:
        args = payload.get("args")
        if args is None and payload.get("url"):
            args = {"url": payload["url"]}
        route = payload.get("destination_path") or self.options.predict_route
        url = self.options.upstream + ("" if route.startswith("/") else "/") + route
        try:
            response = await self.client.post(url, json=args)
        except httpx.HTTPError as error:
            return Outcome(task_results.FAILURE, "The model server is not reachable", repr(error), retry=True)
        if response.is_success:
            return Outcome(task_results.SUCCESS, _decode(response), status_code=response.status_code)
        text = response.text
        return Outcome(task_results.FAILURE, f"The model server answered HTTP {response.status_code}: {text[:500]}",
                       text[:TRACEBACK_MAX_CHARS], response.status_code,
                       retry=response.status_code in RETRYABLE_STATUSES)

    async def _keep_hidden(self, message: queues.QueueMessage) -> None:
        """Push the message's visibility deadline forward every half timeout while it runs."""
        timeout = self.settings.visibility_timeout_seconds() or queues.DEFAULT_VISIBILITY_TIMEOUT_SECONDS
        while True:
            await asyncio.sleep(timeout / 2)
            await self._quietly(queues.change_visibility, self.endpoint_id, message.receipt, timeout)

    async def _callback(self, url: str, auth: dict | None, body: dict) -> None:
        options = {"json": body, "timeout": CALLBACK_TIMEOUT_SECONDS}
        if isinstance(auth, dict) and auth.get("kind") == "basic":
            token = base64.b64encode(f"{auth.get('username', '')}:{auth.get('password', '')}".encode()).decode()
            options["headers"] = {"Authorization": f"Basic {token}"}
        elif auth:
            log.warning("task %s: callback auth kind %r is not supported; calling without it",
                        body["task_id"], auth.get("kind") if isinstance(auth, dict) else auth)
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            try:
                response = await self.client.post(url, **options)
                if response.status_code < 500:
                    if not response.is_success:
                        log.warning("task %s: callback %s answered %d", body["task_id"], url, response.status_code)
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = repr(error)
            log.warning("task %s: callback %s failed (attempt %d): %s", body["task_id"], url, attempt, problem)
            await asyncio.sleep(attempt)

    # -- helpers
    async def run_io(self, function, *args):
        """`function(*args)` (blocking I/O) on the worker's own thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _quietly(self, function, *args) -> None:
        try:
            await self.run_io(function, *args)
        except InfraError as error:
            log.warning("%s", error)

    def stopping(self) -> bool:
        return self._stop.is_set()

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when the forwarder is stopping."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass


def _parse(body: str) -> dict:
    envelope = json.loads(body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("task_id"), str) or not envelope["task_id"]:
        raise ValueError("no task_id")
    if not isinstance(envelope.get("payload"), dict):
        raise ValueError("no payload object")
    return envelope


def _decode(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return response.text
