from django.core.management.base import BaseCommand, CommandError

from endpoints.reconciler import prune_orphans
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube


class Command(BaseCommand):
    help = "Delete Kubernetes objects and endpoint queues whose endpoint no longer exists."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    def handle(self, *args, dry_run, **options):
        try:
            pruned = prune_orphans(get_kube(), dry_run=dry_run)
        except InfraError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would delete" if dry_run else "deleted"
        for item in pruned:
            self.stdout.write(f"{verb} {item}")
        self.stdout.write(f"{len(pruned)} orphan(s) {verb.split()[-1]}.")
