from django.apps import AppConfig


class LLMEngineSiteConfig(AppConfig):
    name = "llmengine_site"
    verbose_name = "Access"
