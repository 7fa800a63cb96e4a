from django.apps import AppConfig


class LLMEngineSiteConfig(AppConfig):
    name = "llmengine_site"
    verbose_name = "Access"

    def ready(self):
        from llmengine_site import schema  # noqa: F401  (registers the OpenAPI auth extension)
