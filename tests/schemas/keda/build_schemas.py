"""Regenerates scaledobject.json and triggerauthentication.json (see README.md).

Not run by the tests. The input is the PyPI package `cloudcoil.models.keda`, whose pydantic
models are generated from KEDA's CRD openAPIV3Schema; install it somewhere out of the way and
point PYTHONPATH at it:

    pip install --target /tmp/keda-models 'cloudcoil.models.keda==2.16.1.0'
    PYTHONPATH=/tmp/keda-models python tests/schemas/keda/build_schemas.py

The post-processing makes the schema as strict as an API server with strict field validation:
optional fields may be absent but not null, and unknown fields are errors (a structural CRD
would silently prune them, which hides typos in our manifests).
"""
import json
from pathlib import Path

from cloudcoil.models.keda import v1alpha1

HERE = Path(__file__).parent
KINDS = {"scaledobject.json": v1alpha1.ScaledObject, "triggerauthentication.json": v1alpha1.TriggerAuthentication}


def _tighten(node):
    if isinstance(node, list):
        return [_tighten(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tighten(value) for key, value in node.items() if key not in ("title", "default")}
    options = node.get("anyOf")
    if options and any(option == {"type": "null"} for option in options):
        rest = [option for option in options if option != {"type": "null"}]
        node.pop("anyOf")
        node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    if node.get("type") == "object" and node.get("properties") and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


def build(model) -> dict:
    schema = _tighten(model.model_json_schema(by_alias=True, mode="validation"))
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


if __name__ == "__main__":
    for filename, model in KINDS.items():
        (HERE / filename).write_text(json.dumps(build(model), indent=1, sort_keys=True) + "\n")
        print("wrote", HERE / filename)
