"""The answer to a console sign-in that django-axes refused (docs/security.md#console-sign-in)."""
from django.conf import settings
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    """429 with what happened, when it ends and how an operator lifts it."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "admin/login_locked.html",
                  {"username": username, "failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes,
                   "title": "Sign-in locked"},
                  status=429)
