"""How /docs and /openapi.json describe the API: the authentication schemes and our views."""
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes


class CredentialAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "llmengine_site.auth.CredentialAuthentication"
    name = ["basicAuth", "bearerAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "basic", "description": "The username is the API key (or user id in "
                                                                "trust-username mode); the password is ignored."},
            {"type": "http", "scheme": "bearer", "description": "The API key as a bearer token."},
        ]


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema for our APIViews, which validate with plain serializers instead
    of declaring `serializer_class`: a view names its request bodies in
    `request_serializers = {"post": SomeSerializer}`; bodies and answers it does not name are
    documented as JSON objects (rather than logged as "unable to guess serializer")."""

    def _declares_serializer(self) -> bool:
        return hasattr(self.view, "get_serializer") or getattr(self.view, "serializer_class", None) is not None

    def get_request_serializer(self):
        declared = getattr(self.view, "request_serializers", {}).get(self.method.lower())
        if declared is not None:
            return declared
        if self._declares_serializer():
            return super().get_request_serializer()
        return None if self.method in ("GET", "DELETE", "HEAD") else OpenApiTypes.OBJECT

    def get_response_serializers(self):
        if self._declares_serializer():
            return super().get_response_serializers()
        return OpenApiTypes.OBJECT

    def get_operation_id(self):
        """`…_list` for a collection GET and `…_update` for a POST on an item, so no two routes collide."""
        operation_id = super().get_operation_id()
        on_item = self.path.rstrip("/").endswith("}")
        if self.method == "GET" and not on_item and operation_id.endswith("_retrieve"):
            return operation_id[: -len("_retrieve")] + "_list"
        if self.method == "POST" and on_item and operation_id.endswith("_create"):
            return operation_id[: -len("_create")] + "_update"  # e.g. POST /v2/batch-completions/{id}
        return operation_id
