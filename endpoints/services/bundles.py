"""Writes of model bundles: the generic bundle API and the serving bundle of an LLM endpoint."""
from endpoints import selectors
from endpoints.choices import SUPPORTED_BUNDLE_FLAVORS, BundleFlavor
from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.images import full_image
from endpoints.models import ModelBundle
from endpoints.services.checks import check_image_exists
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest


def bundle_create(caller: Caller, name: str, flavor: dict, metadata: dict, schema_location: str | None) -> ModelBundle:
    flavor = dict(flavor)
    flavor_name = flavor.pop("flavor")
    if flavor_name not in SUPPORTED_BUNDLE_FLAVORS:
        raise InvalidRequest(
            f"flavor: {flavor_name} bundles are not supported by this deployment; use runnable_image or "
            "streaming_enhanced_runnable_image with an image you built"
        )
    check_image_exists(full_image(flavor["repository"], flavor["tag"]))
    return ModelBundle.objects.create(
        name=name, owner=caller.team_id, created_by=caller.user_id, flavor=flavor_name, spec=flavor,
        metadata=metadata or {}, schema_location=schema_location,
        app_config=flavor.pop("app_config", None),
    )


def bundle_clone(caller: Caller, original_id: str, new_app_config: dict | None) -> ModelBundle:
    original = selectors.bundle_owned_by(caller, original_id)
    return ModelBundle.objects.create(
        name=original.name, owner=caller.team_id, created_by=caller.user_id, flavor=original.flavor,
        spec=dict(original.spec), metadata=dict(original.metadata), schema_location=original.schema_location,
        app_config=new_app_config if new_app_config is not None else original.app_config,
    )


def llm_bundle_spec(llm: LLMServingInput) -> dict:
    """The serving bundle (image, launch command, routes) of an LLM endpoint, its image checked
    in the registry. Call it before opening a transaction: the check is a network call."""
    try:
        spec = llm_bundle(llm)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    check_image_exists(full_image(spec["repository"], spec["tag"]))
    return spec


def llm_bundle_row(caller: Caller, name: str, spec: dict) -> ModelBundle:
    """Insert the bundle row of `llm_bundle_spec` (no network)."""
    spec = dict(spec)
    flavor = spec.pop("flavor", BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE)
    return ModelBundle.objects.create(
        name=name, owner=caller.team_id, created_by=caller.user_id, flavor=flavor, spec=spec,
        schema_location="TBA", metadata={},
    )
