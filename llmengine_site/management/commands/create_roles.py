"""Create or refresh the console's two roles. Idempotent: each group ends with exactly the
permissions below, so running it after a migration that adds models grants those too.

- viewer: view every model of the platform's apps; no action button, 403 on action URLs.
- operator: view, plus run the actions (rebuild, restart, scale, delete endpoints; issue and
  revoke API keys; jobs' actions through their apps' change permission) and edit the
  reference tables.
"""
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

PLATFORM_APPS = ("endpoints", "llmengine_site", "jobs")
VIEWER = "viewer"
OPERATOR = "operator"

# Beyond view + change on every platform model, what operators may do, as permission codenames.
OPERATOR_EXTRA = (
    "endpoints.delete_modelendpoint",  # the delete action (teardown through the service)
    "llmengine_site.add_apikey",
    "endpoints.add_recommendedhardware",
    "endpoints.delete_recommendedhardware",
    "endpoints.add_modelrepository",
    "endpoints.delete_modelrepository",
)


def _platform_permissions(*actions: str) -> list[Permission]:
    wanted = {
        (model._meta.app_label, f"{action}_{model._meta.model_name}")
        for app_label in PLATFORM_APPS
        if apps.is_installed(app_label)
        for model in apps.get_app_config(app_label).get_models()
        for action in actions
    }
    return _permissions(wanted)


def _permissions(wanted: set[tuple[str, str]]) -> list[Permission]:
    found = Permission.objects.filter(content_type__app_label__in={app for app, _ in wanted}).select_related(
        "content_type"
    )
    return [permission for permission in found if (permission.content_type.app_label, permission.codename) in wanted]


def role_permissions() -> dict[str, list[Permission]]:
    extra = {tuple(name.split(".", 1)) for name in OPERATOR_EXTRA}
    return {
        VIEWER: _platform_permissions("view"),
        OPERATOR: _platform_permissions("view", "change") + _permissions(extra),
    }


class Command(BaseCommand):
    help = "Create or refresh the 'viewer' and 'operator' groups of the operator console (idempotent)."

    def handle(self, *args, **options):
        for name, permissions in role_permissions().items():
            group, created = Group.objects.get_or_create(name=name)
            group.permissions.set(permissions)
            verb = "created" if created else "refreshed"
            if options.get("verbosity", 1):
                self.stdout.write(f"{verb} group {name!r} with {len(permissions)} permissions")
