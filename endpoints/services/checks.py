"""Checks shared by the endpoint and bundle services. The ones that ask the network (registry,
cluster) run before any transaction is opened (docs/design.md#desired-state-and-the-flow-of-a-change)."""
from dataclasses import dataclass

from django.conf import settings

from endpoints.choices import EndpointType
from endpoints.manifests.autoscaling import KEDA_API_VERSION
from endpoints.resources import check_gpu_type_mapped, validate_resources
from llmengine_site.errors import InvalidRequest, ObjectNotFound, UpstreamUnavailable
from llmengine_site.infra import InfraError
from llmengine_site.infra.kube import get_kube
from llmengine_site.infra.registry import image_exists


def check_image_exists(image: str) -> None:
    """404 when the registry check is on and the image is not in the registry."""
    if not settings.LLME_REGISTRY_CHECK:
        return
    try:
        found = image_exists(image)
    except InfraError as exc:
        raise UpstreamUnavailable(f"Could not check image {image} in the registry: {exc}. Retry later.") from exc
    if not found:
        raise ObjectNotFound("The specified docker image could not be found.")


def check_workers(endpoint_type: str, min_workers: int, max_workers: int) -> None:
    if min_workers > max_workers:
        raise InvalidRequest(f"min_workers: {min_workers} must not be greater than max_workers ({max_workers})")
    if min_workers == 0 and endpoint_type != EndpointType.ASYNC and not keda_may_be_installed():
        raise InvalidRequest(
            "min_workers: 0 (scale from zero) needs KEDA, which is not installed in the cluster; "
            "install KEDA or set min_workers to 1 or more"
        )


def keda_may_be_installed() -> bool:
    """False only when the cluster answers and has no KEDA; without a reachable cluster the
    builder decides later (and fails with the same reason)."""
    try:
        return get_kube().has_api(KEDA_API_VERSION, "ScaledObject")
    except InfraError:
        return True


@dataclass
class Resources:
    cpus: str
    memory: str
    storage: str
    gpus: int
    gpu_type: str | None
    nodes_per_worker: int


def validated_resources(res: Resources) -> Resources:
    validate_resources(cpus=res.cpus, memory=res.memory, storage=res.storage, gpus=res.gpus, gpu_type=res.gpu_type)
    check_gpu_type_mapped(res.gpu_type)
    return res
