"""The page at `/`: where a person who opens the gateway in a browser finds the console, the API
documentation and the health routes (no auth; it shows nothing about users or endpoints)."""
from django.conf import settings
from django.shortcuts import render


def landing(request):
    return render(request, "llmengine_site/landing.html", {
        "auth_mode": settings.LLME_AUTH_MODE,
        "base_url": request.build_absolute_uri("/"),
    })
