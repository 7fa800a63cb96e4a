import json
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from jobs.services.templates import templates_load


class Command(BaseCommand):
    help = ("Create or update fine-tune templates from a YAML or JSON file: a list of templates (or "
            "{'templates': [...]}) keyed by base_model. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        path = Path(file)
        try:
            text = path.read_text()
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CommandError(f"{file}: cannot read it as {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
        rows = data.get("templates") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise CommandError(f"{file}: expected a list of templates or {{'templates': [...]}}")
        try:
            created, updated = templates_load(rows)
        except ValidationError as exc:
            raise CommandError(f"{file}: {'; '.join(exc.messages)} (nothing was changed)") from exc
        self.stdout.write(f"fine-tune templates: {created} created, {updated} updated")
