"""Writes of endpoints and bundles (docs/design.md#desired-state-and-the-flow-of-a-change), one module per concern: `endpoints` (create, update,
delete, rebuild, restart of any endpoint), `llm_endpoints`, `bundles` and `checks`. Raises
domain errors from llmengine_site.errors. Callers use `from endpoints import services` and
the names below."""
from endpoints.services.bundles import bundle_clone, bundle_create
from endpoints.services.checks import check_image_exists
from endpoints.services.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_rebuild,
    endpoint_restart,
    endpoint_update,
)
from endpoints.services.llm_endpoints import endpoint_scale, llm_endpoint_create, llm_endpoint_update

__all__ = [
    "bundle_clone", "bundle_create", "check_image_exists", "endpoint_create", "endpoint_delete", "endpoint_rebuild",
    "endpoint_restart", "endpoint_scale", "endpoint_update", "llm_endpoint_create", "llm_endpoint_update",
]
