"""Where a queue-mode forwarder records task state (STARTED, then SUCCESS or FAILURE).

- `RedisResults` (Redis queue backend): writes `endpoints/task_results.py` directly, as the
  endpoint's own Redis user (`endpoints/redis_acl.py`), the user its queue needs anyway.
- `GatewayResults` (SQS queue backend): the pod holds no Redis credential at all; it reports to
  the gateway (`POST /v1/internal/endpoints/<id>/tasks/<task id>`,
  `endpoints/inference/task_reports.py`) with the endpoint's report token. A large result is
  uploaded to S3 first, as before, and the report names its location. A gateway that cannot be
  reached or answers 5xx/429 is retried with backoff, one log line per retry, until it takes
  the report or the forwarder stops (`ReportNotDelivered`: the message stays in the queue and
  is delivered again), so no result is lost for a gateway outage.

Both answer `start(task_id)` with False when the task must not run (finished already; or, for
the gateway, a task it never submitted to this endpoint) and raise `ReportRefused` when the
report can never be taken as sent (a wrong token): the message then stays in the queue.
"""
import functools
import json
import logging

import httpx

from endpoints import task_results

log = logging.getLogger("endpoints.forwarder")

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
REPORT_TIMEOUT_SECONDS = 30.0


class ReportNotDelivered(Exception):
    """The forwarder is stopping before the gateway took a report."""


class ReportRefused(Exception):
    """The gateway refused a report for good (e.g. 401/403: the pod's token is wrong)."""


class RedisResults:
    def __init__(self, client, endpoint_id: str, run_io):
        self.client, self.endpoint_id, self.run_io = client, endpoint_id, run_io

    async def start(self, task_id: str) -> bool:
        status = await self.run_io(task_results.read_status, self.client, self.endpoint_id, task_id)
        if status in task_results.FINAL_STATUSES:
            return False
        return await self.run_io(task_results.record_started, self.client, self.endpoint_id, task_id)

    async def finish(self, task_id: str, outcome, ttl_seconds: int) -> None:
        await self.run_io(functools.partial(
            task_results.record_result, self.client, self.endpoint_id, task_id, status=outcome.status,
            result=outcome.result, traceback=outcome.traceback, status_code=outcome.status_code,
            ttl_seconds=ttl_seconds))

    async def close(self) -> None:
        pass


class GatewayResults:
    def __init__(self, gateway_url: str, token: str, endpoint_id: str, run_io, pause, stopping):
        self.base = f"{gateway_url.rstrip('/')}/v1/internal/endpoints/{endpoint_id}/tasks/"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.run_io, self.pause, self.stopping = run_io, pause, stopping
        self.client = httpx.AsyncClient(timeout=REPORT_TIMEOUT_SECONDS)

    async def start(self, task_id: str) -> bool:
        response = await self._post(task_id, {"status": task_results.STARTED})
        if response.status_code == 409:
            return False  # finished already: the message was delivered again
        if response.status_code == 404:
            log.error("task %s: the gateway knows no such task of this endpoint; dropping its message", task_id)
            return False
        self._refuse_unless_ok(task_id, response)
        return True

    async def finish(self, task_id: str, outcome, ttl_seconds: int) -> None:
        encoded, location = await self.run_io(task_results.stored_form, task_id, outcome.result)
        report = {"status": outcome.status, "ttl_seconds": ttl_seconds, "traceback": outcome.traceback,
                  "status_code": outcome.status_code}
        report.update({"result_location": location} if location else {"result": outcome.result})
        response = await self._post(task_id, report)
        if response.status_code == 413:
            log.error("task %s: the result (%d bytes) is larger than the gateway accepts; reporting FAILURE",
                      task_id, len(encoded or ""))
            response = await self._post(task_id, {
                "status": task_results.FAILURE, "ttl_seconds": ttl_seconds, "status_code": outcome.status_code,
                "result": "The result is larger than the gateway accepts and no bucket is configured for it",
                "traceback": None})
        if response.status_code == 404:
            log.error("task %s: the gateway knows no such task of this endpoint; its result is dropped", task_id)
            return
        self._refuse_unless_ok(task_id, response)

    async def close(self) -> None:
        await self.client.aclose()

    async def _post(self, task_id: str, report: dict) -> httpx.Response:
        """The gateway's final answer (not 5xx/429), retried with backoff until it comes."""
        body, delay, attempt = json.dumps(report), FIRST_RETRY_SECONDS, 1
        while True:
            try:
                response = await self.client.post(self.base + task_id, content=body, headers=self.headers)
                if response.status_code < 500 and response.status_code != 429:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = repr(error)
            if self.stopping():
                raise ReportNotDelivered(f"task {task_id}: stopping before the gateway took the "
                                         f"{report['status']} report; the message will be delivered again")
            log.warning("task %s: the gateway did not take the %s report (attempt %d; retrying in %.1f s): %s",
                        task_id, report["status"], attempt, delay, problem)
            await self.pause(delay)
            delay, attempt = min(delay * 2, MAX_RETRY_SECONDS), attempt + 1

    @staticmethod
    def _refuse_unless_ok(task_id: str, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise ReportRefused(f"task {task_id}: the gateway refused the report with HTTP "
                                f"{response.status_code}: {response.text[:500]}")
