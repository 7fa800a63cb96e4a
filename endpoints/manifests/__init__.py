"""Pure functions: endpoint spec -> Kubernetes objects (plain dicts). No DB, no network.

Entry points: `render_endpoint`, `endpoint_object_kinds`, `render_image_cache_daemonset`;
inputs: `EndpointSpec`, `BundleSpec` (`bundle_spec_from` reads a bundle's stored spec).
"""
from endpoints.manifests.image_cache import image_cache_containers, render_image_cache_daemonset
from llmengine_site.labels import endpoint_selector
from endpoints.manifests.render import endpoint_object_kinds, render_endpoint
from endpoints.manifests.spec import BundleSpec, EndpointSpec, bundle_spec_from

__all__ = [
    "BundleSpec",
    "EndpointSpec",
    "bundle_spec_from",
    "endpoint_object_kinds",
    "endpoint_selector",
    "image_cache_containers",
    "render_endpoint",
    "render_image_cache_daemonset",
]
