"""The runner's state in storage: checkpoint parts, progress and done markers (see __init__).

Every write is a new object or a whole-object replace, so a pod killed at any moment leaves
either the old or the new object, never a torn one, and a restarted pod (or another worker of
the same job) reads a consistent picture.
"""
import json
import secrets
import time
from datetime import datetime, timezone

from jobs.batch_runner import locations

PARTS = "parts"
PROGRESS = "progress"
DONE = "done"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Checkpoint:
    def __init__(self, state_location: str, worker: int):
        self.state = state_location.rstrip("/")
        self.worker = worker
        # Unique per process start: a restarted pod never overwrites the parts of the one before.
        self.run = f"{int(time.time())}{secrets.token_hex(3)}"
        self.sequence = 0

    def load(self) -> dict[int, tuple[object, str | None]]:
        """{index: (output, error)} of every item any worker has checkpointed."""
        folder = locations.join(self.state, PARTS)
        records: dict[int, tuple[object, str | None]] = {}
        for name in locations.list_names(folder):
            for line in locations.read(locations.join(folder, name)).decode().splitlines():
                if line.strip():
                    record = json.loads(line)
                    records[int(record["i"])] = (record.get("o"), record.get("e"))
        return records

    def save(self, records: list[dict]) -> None:
        """Store finished items (`{"i", "o", "e"}`) as a new part."""
        if not records:
            return
        self.sequence += 1
        name = f"{self.worker}-{self.run}-{self.sequence:06d}.jsonl"
        data = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records)
        locations.write(locations.join(self.state, PARTS, name), data.encode())

    def write_progress(self, *, workers: int, batch_total: int, total: int, completed: int, failed: int,
                       done: bool, error: str | None = None) -> None:
        """This worker's report: `total` items are its share of the batch's `batch_total`;
        `num_completed` counts finished items, failed ones included (`num_failed`)."""
        progress = {"worker": self.worker, "workers": workers, "batch_total": batch_total, "total": total,
                    "num_completed": completed, "num_failed": failed, "done": done, "error": error,
                    "updated_at": _now()}
        locations.write(locations.join(self.state, PROGRESS, f"{self.worker}.json"), json.dumps(progress).encode())

    def mark_done(self) -> None:
        locations.write(locations.join(self.state, DONE, str(self.worker)), _now().encode())

    def done_workers(self) -> set[int]:
        return {int(name) for name in locations.list_names(locations.join(self.state, DONE)) if name.isdigit()}


def read_reports(state_location: str) -> list[dict]:
    """Every worker's last progress report (see `Checkpoint.write_progress`)."""
    folder = locations.join(state_location.rstrip("/"), PROGRESS)
    return [json.loads(locations.read(locations.join(folder, name)))
            for name in locations.list_names(folder) if name.endswith(".json")]


def summarize(reports: list[dict]) -> dict | None:
    """The job's progress from its workers' reports: `{"total", "num_completed", "num_failed",
    "done", "error"}`, or None before any worker wrote one."""
    if not reports:
        return None
    workers = max(int(report.get("workers") or 1) for report in reports)
    errors = [report["error"] for report in reports if report.get("error")]
    return {
        "total": max(int(report.get("batch_total") or 0) for report in reports),
        "num_completed": sum(int(report.get("num_completed") or 0) for report in reports),
        "num_failed": sum(int(report.get("num_failed") or 0) for report in reports),
        "done": len(reports) >= workers and all(report.get("done") for report in reports),
        "error": errors[0] if errors else None,
    }
