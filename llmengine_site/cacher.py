"""The cacher's pass over both apps (docs/operations.md#commands): the endpoints reconciler and
the jobs reconciler, each on its own, so a failure of one never skips the other.

Used by `manage.py run_cacher` (the loop) and `manage.py reconcile` (one pass). Both apps are
imported plainly: the project always has both."""
import logging
from functools import partial

from endpoints.reconciler import reconcile_once
from jobs.reconciler import reconcile_jobs
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube
from llmengine_site.reconcile_summary import ReconcileSummary
from llmengine_site.transient import describe, is_transient

logger = logging.getLogger("cacher")


def _eventful(summary) -> bool:
    """Whether a pass changed or found anything worth a line (anything but a summary counts)."""
    return summary.eventful() if isinstance(summary, ReconcileSummary) else True


def run_passes(*, prune: bool = True) -> tuple[list[str], bool]:
    """One pass of each app's reconciler. Never raises: an expected transient failure (cluster,
    Redis, database unreachable) is one log line, anything else is logged with its traceback;
    the next pass starts afresh. `prune=False` leaves the endpoints' orphans alone. Returns the
    summaries worth printing and whether every pass ran."""
    endpoints_pass = reconcile_once if prune else partial(reconcile_once, prune=False)
    lines, all_ok = [], True
    for name, run in (("endpoints", endpoints_pass), ("jobs", reconcile_jobs)):
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
