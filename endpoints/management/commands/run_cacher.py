import logging
import time
from dataclasses import fields, is_dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from endpoints.reconciler import reconcile_once
from jobs.reconciler import reconcile_jobs
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube
from llmengine_site.transient import describe, is_transient

logger = logging.getLogger("cacher")


def _eventful(summary) -> bool:
    """Whether a pass changed or found anything worth a line (lists of changes are non-empty)."""
    if not is_dataclass(summary):
        return True
    return any(isinstance(getattr(summary, f.name), list) and getattr(summary, f.name) for f in fields(summary))


def run_passes() -> tuple[list[str], bool]:
    """One cacher pass: the endpoints pass and the jobs pass, each on its own, so a failure of
    one never skips the other. Never raises: an expected transient failure (cluster, Redis,
    database unreachable) is one log line, anything else is logged with its traceback; the
    next pass starts afresh. Returns the summaries worth printing and whether every pass ran."""
    lines, all_ok = [], True
    for name, run in (("endpoints", reconcile_once), ("jobs", reconcile_jobs)):
        try:
            summary = run(get_kube())
        except InfraError as exc:
            all_ok = False
            logger.warning("%s pass failed (%s): %s", name, "will retry" if exc.transient else "check the cluster", exc)
        except Exception as exc:  # noqa: BLE001 — the cacher must outlive any one pass
            all_ok = False
            if is_transient(exc):
                logger.warning("%s pass failed, will retry: %s", name, describe(exc))
            else:
                logger.exception("%s pass failed unexpectedly; the next pass starts afresh", name)
        else:
            if _eventful(summary):
                lines.append(f"{name}: {summary}")
    return lines, all_ok


class Command(BaseCommand):
    help = ("Every few seconds: read endpoint state from the cluster into the cache, make statuses "
            "honest, re-send lost builds, prune orphans and refresh the image caches.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=getattr(settings, "LLME_CACHER_INTERVAL_SECONDS", 10.0))
        parser.add_argument("--once", action="store_true", help="run one pass and exit")
        parser.add_argument("--ready-file", default="/tmp/llme-cacher-ready", help="touched after the first good pass")

    def handle(self, *args, interval, once, ready_file, **options):
        while True:
            started = time.monotonic()
            lines, all_ok = run_passes()
            for line in lines:
                self.stdout.write(f"cacher: {line}")
            if all_ok:
                Path(ready_file).touch()
            if once:
                return
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
