"""The operator console's app config: settings name `llmengine_site.admin_site.ConsoleAdminConfig`
instead of `django.contrib.admin` in INSTALLED_APPS (docs/console.md).

This module is imported while the app registry loads, so it imports no models; the site itself
(`llmengine_site/console_site.py`) is imported by Django once the registry is ready."""
from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "llmengine_site.console_site.ConsoleAdminSite"
