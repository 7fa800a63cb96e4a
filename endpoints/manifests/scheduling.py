"""Where GPU pods may run (docs/design.md#kubernetes-objects-per-endpoint, the guide's node label table)."""
from django.conf import settings

ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}


def accelerator_label(gpu_type: str) -> str:
    """The node label value for `gpu_type`; ValueError naming the setting when none is mapped."""
    mapping = settings.LLME_GPU_NODE_LABELS
    if gpu_type not in mapping:
        known = ", ".join(sorted(mapping)) or "none"
        raise ValueError(
            f"gpu_type {gpu_type!r} has no node label mapping in LLME_GPU_NODE_LABELS "
            f"(configured: {known}); ask the operator to add it"
        )
    return mapping[gpu_type]


def gpu_node_selector(gpu_type: str) -> dict:
    return {"node-lifecycle": "normal", ACCELERATOR_LABEL: accelerator_label(gpu_type)}
