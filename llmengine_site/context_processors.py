from django.conf import settings


def platform(request):
    """Lets admin templates show the trust-username banner."""
    return {"llme_trust_username_mode": settings.LLME_AUTH_MODE == "trust-username"}
