from django.apps import AppConfig


class LLMEngineSiteConfig(AppConfig):
    name = "llmengine_site"
    verbose_name = "Access"

    def ready(self):
        from django.db.models.signals import post_migrate

        from llmengine_site import schema  # noqa: F401  (registers the OpenAPI auth extension)

        # Every app's signal: permissions of apps listed after this one exist only later.
        post_migrate.connect(_create_roles, dispatch_uid="llme-create-roles")


def _create_roles(sender, **kwargs):
    """The viewer and operator groups exist after every `migrate` (make run, the chart's hook)."""
    from django.core.management import call_command

    call_command("create_roles", verbosity=0)
