"""Labels and annotations every endpoint object carries, from its spec
(docs/naming.md#labels-and-annotations). The keys and the label-value rule are
`llmengine_site/labels.py`'s; a name that is not a label value keeps its exact text in an
annotation."""
from llmengine_site.labels import (
    CREATED_BY, ENDPOINT_ID, ENDPOINT_NAME, MANAGED_BY, MANAGED_BY_VALUE, OWNER, SPEC_VERSION, USER_LABEL_KEYS,
    label_value,
)


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


def object_metadata(spec, name: str, namespace: str, *, extra_labels: dict | None = None) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**endpoint_labels(spec), **(extra_labels or {})},
        "annotations": endpoint_annotations(spec),
    }
