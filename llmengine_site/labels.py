"""Every label and annotation key we write on a Kubernetes object, the label-value rule and the
selectors built from them (docs/naming.md#labels-and-annotations). Pure: no Django. No other
module spells a key.

Guarantees: every value `label_value` returns is a valid Kubernetes label value; a text that is
not one is replaced by a readable safe form with a hash suffix (so two texts never collide).
"""
import hashlib
import re

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "llm-engine"
COMPONENT = "app.kubernetes.io/component"
APP = "app"
ENDPOINT_ID = "llm-engine.io/endpoint-id"
ENDPOINT_NAME = "llm-engine.io/endpoint-name"
OWNER = "llm-engine.io/owner"
CREATED_BY = "llm-engine.io/created-by"
SPEC_VERSION = "llm-engine.io/spec-version"
# Hash of the object as rendered (docs/operations.md#pruning-and-drift-repair).
SPEC_HASH = "llm-engine.io/spec-hash"
ROLE = "llm-engine.io/role"
JOB_ID = "llm-engine.io/job-id"
JOB_KIND = "llm-engine.io/job-kind"
TRIGGER_ID = "llm-engine.io/trigger-id"
TRIGGER_NAME = "llm-engine.io/trigger-name"
FINE_TUNED_MODEL = "llm-engine.io/fine-tuned-model"
IMAGE_CACHE = "llm-engine.io/image-cache"
GPU_TYPE = "llm-engine.io/gpu-type"
# The caller's labels copied onto objects, and the prefixes a caller may not use.
USER_LABEL_KEYS = ("team", "product")
RESERVED_PREFIXES = ("llm-engine.io/", "app.kubernetes.io/")

# The one label-value rule: empty, or alphanumeric at both ends with [-A-Za-z0-9_.] between.
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
LABEL_VALUE_MAX_LENGTH = 63


def is_label_value(text: str) -> bool:
    return len(text) <= LABEL_VALUE_MAX_LENGTH and bool(LABEL_VALUE.match(text))


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else `<cleaned prefix>-<8 hex of sha256>`."""
    if is_label_value(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", text)[:54].strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def endpoint_selector(endpoint_id: str) -> str:
    """Label selector that lists every object of one endpoint (for cleanup and observation)."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{ENDPOINT_ID}={label_value(endpoint_id)}"


def job_selector(job_id: str | None = None) -> str:
    """Every job object we manage, or those of one job."""
    selector = f"{MANAGED_BY}={MANAGED_BY_VALUE},{JOB_ID}"
    return f"{selector}={label_value(job_id)}" if job_id else selector


def trigger_selector() -> str:
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{TRIGGER_ID}"
