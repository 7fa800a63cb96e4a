import yaml
from django.core.management.base import BaseCommand, CommandError

from endpoints.builder import endpoint_spec, preview_queue_url, render_for_cluster
from endpoints.manifests import render_endpoint
from endpoints.models import ModelEndpoint
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube


class Command(BaseCommand):
    help = "Print the YAML the builder would apply for an endpoint (the operator's dry run)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="endpoint name or id")
        parser.add_argument("--offline", action="store_true",
                            help="do not ask the cluster which CRDs exist: assume KEDA, no LeaderWorkerSet")

    def handle(self, *args, name, offline, **options):
        endpoint = ModelEndpoint.objects.select_related("bundle").filter(name=name).first() or \
            ModelEndpoint.objects.select_related("bundle").filter(pk=name).first()
        if endpoint is None:
            raise CommandError(f"No endpoint named {name!r}.")
        try:
            # Async endpoints on SQS: the existing queue's URL, or the one SQS will give it.
            queue_url = preview_queue_url(endpoint, look_up=not offline)
            if offline:
                objects = render_endpoint(endpoint_spec(endpoint, queue_url), keda_available=True, lws_available=False)
            else:
                objects = render_for_cluster(get_kube(), endpoint, queue_url)
        except InfraError as exc:
            raise CommandError(f"{exc} (or pass --offline)") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
