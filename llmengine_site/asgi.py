"""ASGI entry point of the gateway (gunicorn + uvicorn worker)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmengine_site.settings")
application = get_asgi_application()

from llmengine_site.dramatiq_setup import start_inprocess_worker_if_configured  # noqa: E402

start_inprocess_worker_if_configured()
