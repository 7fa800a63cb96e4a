from django.core.management.base import BaseCommand, CommandError

from endpoints.reconciler import reconcile_once
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube


class Command(BaseCommand):
    help = ("One reconcile pass: observe the cluster, fix statuses, re-send stuck builds, re-apply "
            "endpoints whose objects drifted (no pruning).")

    def handle(self, *args, **options):
        try:
            summary = reconcile_once(get_kube(), prune=False)
        except InfraError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(summary))
        for line in (summary.status_changes + [f"re-sent {name}" for name in summary.resent]
                     + [f"re-applied {name}" for name in summary.repaired]):
            self.stdout.write(f"  {line}")
