import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from llmengine_site.cacher import run_passes


class Command(BaseCommand):
    help = ("Every few seconds: read endpoint state from the cluster into the cache, make statuses "
            "honest, re-send lost builds, prune orphans and refresh the image caches; the same for jobs "
            "and triggers.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.LLME_CACHER_INTERVAL_SECONDS)
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
