"""Labels and annotations every endpoint object carries (docs/naming.md#labels-and-annotations).
One home for the keys.

Guarantees: every value returned here is a valid Kubernetes label value; a name that is not
one is replaced by a readable safe form with a hash suffix (so two names never collide) and
the exact text is kept in an annotation.
"""
import hashlib
import re

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "llm-engine"
ENDPOINT_ID = "llm-engine.io/endpoint-id"
ENDPOINT_NAME = "llm-engine.io/endpoint-name"
OWNER = "llm-engine.io/owner"
CREATED_BY = "llm-engine.io/created-by"
SPEC_VERSION = "llm-engine.io/spec-version"
# Hash of the object as rendered (docs/operations.md#pruning-and-drift-repair).
SPEC_HASH = "llm-engine.io/spec-hash"
ROLE = "llm-engine.io/role"
APP = "app"
USER_LABEL_KEYS = ("team", "product")

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def is_label_value(text: str) -> bool:
    return len(text) <= 63 and bool(_LABEL_VALUE.match(text))


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else `<cleaned prefix>-<8 hex of sha256>`."""
    if is_label_value(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", text)[:54].strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def endpoint_labels(spec) -> dict:
    """Labels of every object of the endpoint; `llm-engine.io/endpoint-id` selects them all."""
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        ENDPOINT_ID: label_value(spec.id),
        ENDPOINT_NAME: label_value(spec.name),
        OWNER: label_value(spec.owner),
    }
    for key in USER_LABEL_KEYS:
        if spec.labels.get(key):
            labels[key] = label_value(str(spec.labels[key]))
    return labels


def endpoint_annotations(spec) -> dict:
    """Exact texts that may not fit a label, and the spec version the object was rendered from."""
    return {
        ENDPOINT_NAME: spec.name,
        CREATED_BY: spec.created_by,
        SPEC_VERSION: str(spec.spec_version),
    }


def endpoint_selector(endpoint_id: str) -> str:
    """Label selector that lists every object of one endpoint (for cleanup and observation)."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{ENDPOINT_ID}={label_value(endpoint_id)}"


def object_metadata(spec, name: str, namespace: str, *, extra_labels: dict | None = None) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**endpoint_labels(spec), **(extra_labels or {})},
        "annotations": endpoint_annotations(spec),
    }
