from django.core.management.base import BaseCommand, CommandError

from llmengine_site.cacher import run_passes


class Command(BaseCommand):
    help = ("One reconcile pass of both apps, each on its own: observe the cluster, fix statuses, re-send "
            "lost builds and launches (endpoint orphans are not pruned: see prune_orphans).")

    def handle(self, *args, **options):
        lines, all_ok = run_passes(prune=False)
        for line in lines:
            self.stdout.write(line)
        if not all_ok:
            raise CommandError("a reconcile pass failed (logged above); nothing else was skipped, run it again")
        if not lines:
            self.stdout.write("nothing to change")
