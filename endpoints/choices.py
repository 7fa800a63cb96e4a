"""Every status, enum and status group of endpoints and bundles
(docs/wire-contract.md#enumerations). One home."""
from django.db import models


class EndpointStatus(models.TextChoices):
    READY = "READY"
    UPDATE_PENDING = "UPDATE_PENDING"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"


# Statuses in which the builder still has work to do (the reconciler re-sends these).
BUILD_PENDING_STATUSES = (EndpointStatus.UPDATE_PENDING, EndpointStatus.UPDATE_IN_PROGRESS)


class EndpointType(models.TextChoices):
    ASYNC = "async"
    SYNC = "sync"
    STREAMING = "streaming"


class InferenceFramework(models.TextChoices):
    DEEPSPEED = "deepspeed"
    TEXT_GENERATION_INFERENCE = "text_generation_inference"
    VLLM = "vllm"
    LIGHTLLM = "lightllm"
    TENSORRT_LLM = "tensorrt_llm"
    SGLANG = "sglang"


# Frameworks whose LLM endpoints must be streaming (docs/wire-contract.md#creating-an-llm-endpoint).
STREAMING_ONLY_FRAMEWORKS = (
    InferenceFramework.TEXT_GENERATION_INFERENCE,
    InferenceFramework.VLLM,
    InferenceFramework.LIGHTLLM,
    InferenceFramework.TENSORRT_LLM,
)


class LLMSource(models.TextChoices):
    HUGGING_FACE = "hugging_face"


class Quantization(models.TextChoices):
    BITSANDBYTES = "bitsandbytes"
    AWQ = "awq"


SUPPORTED_QUANTIZATION = {
    InferenceFramework.TEXT_GENERATION_INFERENCE: (Quantization.BITSANDBYTES,),
    InferenceFramework.VLLM: (Quantization.AWQ,),
}


class GpuType(models.TextChoices):
    NVIDIA_TESLA_T4 = "nvidia-tesla-t4"
    NVIDIA_AMPERE_A10 = "nvidia-ampere-a10"
    NVIDIA_AMPERE_A100 = "nvidia-ampere-a100"
    NVIDIA_AMPERE_A100E = "nvidia-ampere-a100e"
    NVIDIA_HOPPER_H100 = "nvidia-hopper-h100"
    NVIDIA_HOPPER_H100_1G20GB = "nvidia-hopper-h100-1g20gb"
    NVIDIA_HOPPER_H100_3G40GB = "nvidia-hopper-h100-3g40gb"


class BundleFlavor(models.TextChoices):
    CLOUDPICKLE_ARTIFACT = "cloudpickle_artifact"
    ZIP_ARTIFACT = "zip_artifact"
    RUNNABLE_IMAGE = "runnable_image"
    STREAMING_ENHANCED_RUNNABLE_IMAGE = "streaming_enhanced_runnable_image"
    TRITON_ENHANCED_RUNNABLE_IMAGE = "triton_enhanced_runnable_image"


SUPPORTED_BUNDLE_FLAVORS = (BundleFlavor.RUNNABLE_IMAGE, BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE)


class PostInferenceHook(models.TextChoices):
    BILLING = "billing"
    CALLBACK = "callback"
    LOGGING = "logging"
