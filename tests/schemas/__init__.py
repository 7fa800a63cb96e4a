"""Schemas for objects that kubernetes-validate does not know (KEDA's CRDs).

`validate_keda(obj)` checks a ScaledObject or TriggerAuthentication (keda.sh/v1alpha1) against
KEDA's CRD schema kept in tests/schemas/keda/ (provenance in its README). Unknown fields and
nulls are errors, as with `kubernetes_validate.validate(..., strict=True)`.
"""
import json
from functools import lru_cache
from pathlib import Path

import jsonschema

KEDA_API_VERSION = "keda.sh/v1alpha1"
_KEDA_SCHEMA_FILES = {
    "ScaledObject": "scaledobject.json",
    "TriggerAuthentication": "triggerauthentication.json",
}


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((Path(__file__).parent / "keda" / _KEDA_SCHEMA_FILES[kind]).read_text())
    return jsonschema.Draft202012Validator(schema)


def is_keda(obj: dict) -> bool:
    return obj.get("apiVersion") == KEDA_API_VERSION and obj.get("kind") in _KEDA_SCHEMA_FILES


def validate_keda(obj: dict) -> None:
    """Raises jsonschema.ValidationError naming every bad field; ValueError for another kind."""
    if not is_keda(obj):
        raise ValueError(f"not a KEDA object we have a schema for: {obj.get('apiVersion')}/{obj.get('kind')}")
    errors = sorted(_validator(obj["kind"]).iter_errors(obj), key=lambda error: list(error.absolute_path))
    if errors:
        lines = [f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]
        raise jsonschema.ValidationError(f"{obj['kind']} {obj.get('metadata', {}).get('name')}: " + "; ".join(lines))
