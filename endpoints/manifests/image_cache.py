"""Image-cache DaemonSets: keep the endpoints' images pulled on every node of a GPU type, so a
new replica starts without a multi-gigabyte pull (docs/design.md#kubernetes-objects-per-endpoint,
docs/naming.md#kubernetes-objects)."""
from django.conf import settings

from endpoints.manifests import scheduling
from endpoints.manifests.deployment import namespace
from llmengine_site.labels import GPU_TYPE, IMAGE_CACHE, MANAGED_BY, MANAGED_BY_VALUE
from llmengine_site.names import image_cache_daemonset_name

# A pod spec holds this many containers at most before it becomes unwieldy; beyond it the
# least recently listed images are the caller's to drop.
MAX_IMAGES = 100


def image_cache_namespace() -> str:
    """The chart keeps image caches in its release namespace (LLME_IMAGE_CACHE_NAMESPACE)."""
    return settings.LLME_IMAGE_CACHE_NAMESPACE or namespace()


def image_cache_containers(images: list[str]) -> list[dict]:
    """One sleeping, unprivileged container per distinct image, sorted: equal inputs, equal lists."""
    tiny = {"cpu": "10m", "memory": "16Mi"}
    return [
        {
            "name": f"image-{index}",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c", "sleep infinity"],
            "resources": {"requests": dict(tiny), "limits": dict(tiny)},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        for index, image in enumerate(sorted(set(images)))
    ]


def render_image_cache_daemonset(gpu_type: str, images: list[str]) -> dict:
    """DaemonSet with one sleeping container per distinct image (sorted, so equal inputs give
    equal objects). Raises ValueError for an unmapped gpu_type, no images, or too many."""
    distinct = sorted(set(images))
    if not distinct:
        raise ValueError("an image cache needs at least one image; delete the DaemonSet instead")
    if len(distinct) > MAX_IMAGES:
        raise ValueError(f"an image cache holds at most {MAX_IMAGES} images (got {len(distinct)})")
    name = image_cache_daemonset_name(gpu_type)
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        IMAGE_CACHE: "true",
        GPU_TYPE: gpu_type,
        "app": name,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": image_cache_namespace(), "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            # Pulling is slow and harmless to overlap.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": image_cache_containers(distinct),
                    "nodeSelector": scheduling.gpu_node_selector(gpu_type),
                    "tolerations": [dict(scheduling.GPU_TOLERATION)],
                    # Framework images may default to root; sleeping needs no privilege at all.
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # `sleep` ignores SIGTERM as PID 1; nothing is lost by killing it at once.
                    "terminationGracePeriodSeconds": 1,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                },
            },
        },
    }
