from django.core.management.base import BaseCommand, CommandError

from llmengine_site.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a user in a team. The key is printed once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="user id (becomes created_by of what the key creates)")
        parser.add_argument("--team", default="", help="team id (becomes owner); defaults to the user id")
        parser.add_argument("--name", default="", help="a label to recognise the key in the admin")

    def handle(self, *args, user, team, name, **options):
        if len(user) > 255 or len(team) > 255:
            raise CommandError("--user and --team take at most 255 characters")
        key, raw = api_key_create(user_id=user, team_id=team, name=name)
        self.stderr.write(f"API key {key.key_hint}… for user {key.user_id}, team {key.team_id}. Store it now: it is not shown again.")
        self.stdout.write(raw)
