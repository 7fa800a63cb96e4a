import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from endpoints.reconciler import reconcile_once
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube


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
            try:
                summary = reconcile_once(get_kube())
                summary = f"{summary}; {__import__('jobs.reconciler', fromlist=['reconcile_jobs']).reconcile_jobs(get_kube())}"
                self.stdout.write(f"cacher: {summary}")
                Path(ready_file).touch()
            except InfraError as exc:
                self.stderr.write(f"cacher: pass failed ({'will retry' if exc.transient else 'check the cluster'}): {exc}")
            if once:
                return
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
