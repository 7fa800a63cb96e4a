"""Kubernetes quantities and per-node resource limits (docs/wire-contract.md#resource-limits)."""
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from endpoints.choices import GpuType
from llmengine_site.errors import InvalidRequest

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def parse_quantity(value, field: str) -> Decimal:
    """A Kubernetes quantity ("40Gi", "500m", 32, 0.5) as a number of base units.

    Raises InvalidRequest naming the field for anything else (e.g. "40Gb")."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{value!r} is not a Kubernetes quantity", field=field)
    if isinstance(value, (int, float)):
        if value < 0:
            raise InvalidRequest("must not be negative", field=field)
        return Decimal(str(value))
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise InvalidRequest(f"{text!r} is not a Kubernetes quantity (use e.g. 32, 500m, 40Gi or 40G)", field=field)
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise InvalidRequest(f"{text!r} is not a number", field=field) from exc
    suffix = match["suffix"]
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number


def normalize_quantity(value) -> str:
    """The stored form of a quantity: numbers become strings ("32", "0.5"), text is kept."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


GiB = 2**30
GB = 10**9


@dataclass(frozen=True)
class NodeLimits:
    cpus: Decimal
    memory: int
    storage: int


_CPU_NODE = NodeLimits(Decimal(7), 30 * GiB, 640 * GiB)
NODE_LIMITS = {
    None: _CPU_NODE,
    GpuType.NVIDIA_TESLA_T4: NodeLimits(Decimal(63), 250 * GiB, 640 * GiB),
    GpuType.NVIDIA_AMPERE_A10: NodeLimits(Decimal(63), 250 * GiB, 640 * GiB),
    GpuType.NVIDIA_AMPERE_A100: NodeLimits(Decimal(95), 1000 * GiB, 640 * GiB),
    GpuType.NVIDIA_AMPERE_A100E: NodeLimits(Decimal(95), 1000 * GiB, 640 * GiB),
    GpuType.NVIDIA_HOPPER_H100: NodeLimits(Decimal(191), 2000 * GiB, 1300 * GiB),
    GpuType.NVIDIA_HOPPER_H100_1G20GB: NodeLimits(Decimal(47), 500 * GiB, 640 * GiB),
    GpuType.NVIDIA_HOPPER_H100_3G40GB: NodeLimits(Decimal(95), 1000 * GiB, 640 * GiB),
}
# What the forwarder sidecar needs next to the model container on the same node.
FORWARDER_OVERHEAD = NodeLimits(Decimal(1), 2 * GiB, 1 * GB)


def validate_resources(*, cpus, memory, storage, gpus: int, gpu_type: str | None) -> None:
    """Raise InvalidRequest unless the request fits one node of its kind, forwarder included."""
    if gpus and not gpu_type:
        raise InvalidRequest("required when gpus is greater than 0", field="gpu_type")
    if gpu_type and not gpus:
        raise InvalidRequest("must not be set when gpus is 0", field="gpu_type")
    cpu_value = parse_quantity(cpus, "cpus")
    memory_value = parse_quantity(memory, "memory")
    storage_value = parse_quantity(storage, "storage") if storage not in (None, "") else Decimal(0)
    if cpu_value <= 0:
        raise InvalidRequest("must be greater than 0", field="cpus")
    if memory_value <= 0:
        raise InvalidRequest("must be greater than 0", field="memory")
    limits = NODE_LIMITS[gpu_type or None]
    kind = gpu_type or "CPU-only"
    if cpu_value + FORWARDER_OVERHEAD.cpus > limits.cpus:
        raise InvalidRequest(
            f"{cpus} is above what a {kind} node offers ({limits.cpus - FORWARDER_OVERHEAD.cpus} at most, "
            "the forwarder sidecar needs 1)", field="cpus")
    if memory_value + FORWARDER_OVERHEAD.memory > limits.memory:
        raise InvalidRequest(
            f"{memory} is above what a {kind} node offers ({(limits.memory - FORWARDER_OVERHEAD.memory) // GiB}Gi at most)",
            field="memory")
    if storage_value + FORWARDER_OVERHEAD.storage > limits.storage:
        raise InvalidRequest(
            f"{storage} is above what a {kind} node offers ({(limits.storage - FORWARDER_OVERHEAD.storage) // GiB}Gi at most)",
            field="storage")


HARDWARE_FIELDS = ("cpus", "gpus", "memory", "storage", "gpu_type")


def hardware_given(data: dict) -> bool:
    """The one "all or none" rule: True when the request gives its hardware (all of cpus, gpus,
    memory, storage, and gpu_type when gpus > 0), False when it gives none of them (the
    recommended hardware is used). Raises InvalidRequest naming the missing ones otherwise."""
    if all(data.get(name) is None for name in HARDWARE_FIELDS):
        return False
    needed = ["cpus", "gpus", "memory", "storage"] + (["gpu_type"] if data.get("gpus") else [])
    missing = [name for name in needed if data.get(name) is None]
    if missing:
        raise InvalidRequest(
            "All hardware fields (cpus, gpus, memory, storage, and gpu_type when gpus > 0) must be given "
            f"together, or none of them to use the recommended hardware; missing: {', '.join(missing)}"
        )
    return True


def check_gpu_type_mapped(gpu_type: str | None) -> None:
    """The one GPU-mapping check: a GPU type must have a node label in LLME_GPU_NODE_LABELS."""
    if gpu_type and gpu_type not in settings.LLME_GPU_NODE_LABELS:
        raise InvalidRequest(
            f"{gpu_type} has no node label in LLME_GPU_NODE_LABELS of this deployment; "
            f"available: {', '.join(sorted(settings.LLME_GPU_NODE_LABELS))}", field="gpu_type")
