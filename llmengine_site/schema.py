"""Tells drf-spectacular how callers authenticate, for /docs and /openapi.json."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CredentialAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "llmengine_site.auth.CredentialAuthentication"
    name = ["basicAuth", "bearerAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "basic", "description": "The username is the API key (or user id in "
                                                                "trust-username mode); the password is ignored."},
            {"type": "http", "scheme": "bearer", "description": "The API key as a bearer token."},
        ]
