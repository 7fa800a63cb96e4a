"""Health routes (no auth): `/healthcheck` and `/healthz` say the process is up; `/readyz` also
checks that the database answers."""
from django.db import connection
from django.http import HttpResponse


def alive(request):
    return HttpResponse(status=200)


def ready(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        return HttpResponse(f"database unavailable: {exc.__class__.__name__}", status=503, content_type="text/plain")
    return HttpResponse(status=200)
