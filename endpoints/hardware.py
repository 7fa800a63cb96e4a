"""Hardware for LLM endpoints created without explicit resources (docs/wire-contract.md#hardware-inference).

Rows of `RecommendedHardware` (editable in the admin) decide: an exact `model_name` row wins;
otherwise the smallest `gpu_memory_le` row that covers the model's estimated memory.
"""
import math
import re
from dataclasses import dataclass

from endpoints.models import RecommendedHardware
from llmengine_site.errors import InvalidRequest

# Models whose parameter count is not the last "<N>b" of their name (billions).
_KNOWN_PARAMETERS = {
    "mixtral-8x7b": 47,
    "mixtral-8x22b": 140,
    "phi-3-mini": 4,
    "phi-3-small": 8,
    "phi-3-medium": 15,
    "deepseek-coder-v2-lite": 16,
    "deepseek-coder-v2": 237,
}
_PARAMETERS_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)b(?![a-z])")
# fp16 weights take 2 bytes a parameter; the KV cache and activations take a share on top,
# and engines only use ~90% of GPU memory.
_BYTES_PER_PARAMETER = 2
_RUNTIME_OVERHEAD = 1.25
_USABLE_GPU_FRACTION = 0.9


@dataclass(frozen=True)
class Hardware:
    cpus: str
    gpus: int
    memory: str
    storage: str
    gpu_type: str
    nodes_per_worker: int


def parameters_in_billions(model_name: str) -> float | None:
    name = model_name.lower()
    for prefix in sorted(_KNOWN_PARAMETERS, key=len, reverse=True):
        if name.startswith(prefix):
            return float(_KNOWN_PARAMETERS[prefix])
    matches = _PARAMETERS_IN_NAME.findall(name)
    return float(matches[-1]) if matches else None


def estimated_memory_gb(model_name: str) -> int | None:
    params = parameters_in_billions(model_name)
    if params is None:
        return None
    return math.ceil(params * _BYTES_PER_PARAMETER * _RUNTIME_OVERHEAD / _USABLE_GPU_FRACTION)


def infer_hardware(model_name: str) -> Hardware:
    """The recommended hardware for `model_name`. Raises InvalidRequest when no row fits."""
    row = RecommendedHardware.objects.filter(model_name=model_name).first()
    if row is None:
        needed = estimated_memory_gb(model_name)
        if needed is None:
            raise InvalidRequest(
                f"Unable to infer hardware for model {model_name!r}: its name does not say its size. "
                "Set cpus, gpus, gpu_type, memory and storage."
            )
        row = (
            RecommendedHardware.objects.filter(model_name="", gpu_memory_le__gte=needed)
            .order_by("gpu_memory_le")
            .first()
        )
        if row is None:
            raise InvalidRequest(
                f"Unable to infer hardware for model {model_name!r} (about {needed} GB of GPU memory): no recommended "
                "hardware row is large enough. Set cpus, gpus, gpu_type, memory and storage, or add a row in the admin."
            )
    return Hardware(row.cpus, row.gpus, row.memory, row.storage, row.gpu_type, row.nodes_per_worker)
