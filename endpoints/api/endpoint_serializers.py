"""Request bodies of the LLM and generic model-endpoint routes
(docs/wire-contract.md#llm-model-endpoints, docs/wire-contract.md#generic-model-endpoints)."""
import json

from django.conf import settings
from rest_framework import serializers

from endpoints.choices import EndpointType, InferenceFramework, LLMSource, PostInferenceHook, Quantization
from llmengine_site.api.fields import (
    CallbackAuthField,
    ChoiceField,
    HardwareFields,
    LabelsField,
    QuantityField,
    StrictDictField,
)
from llmengine_site.labels import is_label_value

# Metadata keys the platform writes itself on LLM endpoints.
RESERVED_METADATA_KEYS = ("_llm", "_CONVERTED_FROM_ARTIFACT_LIKE")

# vLLM engine arguments accepted on LLM create/update (docs/wire-contract.md#llm-model-endpoints),
# with their JSON types.
VLLM_ARGS = {
    "max_model_len": int, "max_num_seqs": int, "enforce_eager": bool, "trust_remote_code": bool,
    "pipeline_parallel_size": int, "tensor_parallel_size": int, "quantization": str,
    "disable_log_requests": bool, "chat_template": str, "tool_call_parser": str,
    "enable_auto_tool_choice": bool, "load_format": str, "config_format": str, "tokenizer_mode": str,
    "limit_mm_per_prompt": str, "max_num_batched_tokens": int, "tokenizer": str, "dtype": str,
    "seed": int, "revision": str, "code_revision": str, "rope_scaling": dict, "tokenizer_revision": str,
    "quantization_param_path": str, "max_seq_len_to_capture": int, "disable_sliding_window": bool,
    "skip_tokenizer_init": bool, "served_model_name": str, "override_neuron_config": dict,
    "mm_processor_kwargs": dict, "block_size": int, "gpu_memory_utilization": float, "swap_space": float,
    "cache_dtype": str, "num_gpu_blocks_override": int, "enable_prefix_caching": bool,
    "max_gpu_memory_utilization": float, "attention_backend": str,
}
# The SGLang server arguments we pass through (a common subset; others are ignored).
SGLANG_ARGS = {
    "huggingface_repo": str, "tp_size": int, "dp_size": int, "context_length": int,
    "mem_fraction_static": float, "max_running_requests": int, "max_total_tokens": int,
    "chunked_prefill_size": int, "max_prefill_tokens": int, "schedule_policy": str,
    "attention_backend": str, "sampling_backend": str, "grammar_backend": str, "dtype": str,
    "kv_cache_dtype": str, "quantization": str, "trust_remote_code": bool, "tokenizer_path": str,
    "tokenizer_mode": str, "chat_template": str, "random_seed": int, "disable_radix_cache": bool,
    "enable_torch_compile": bool, "lora_paths": list, "max_loras_per_batch": int,
    "speculative_algorithm": str, "speculative_draft_model_path": str, "speculative_num_steps": int,
    "speculative_eagle_topk": int, "speculative_num_draft_tokens": int,
}
_NUMBER_TYPES = {int: (int,), float: (int, float), bool: (bool,), str: (str,), dict: (dict,), list: (list,)}
HARDWARE_FIELDS = ("cpus", "gpus", "memory", "storage")
# trust_remote_code is always sent (false) by the official client: it is not "an explicit choice".
_CLIENT_DEFAULT_ARGS = {"trust_remote_code": False}


def framework_args_from(body: dict, framework: str) -> dict:
    """The engine arguments the caller set explicitly, type-checked; raises ValidationError."""
    table = SGLANG_ARGS if framework == InferenceFramework.SGLANG else VLLM_ARGS
    args, errors = {}, {}
    for name, expected in table.items():
        if name not in body or _CLIENT_DEFAULT_ARGS.get(name, object()) == body[name]:
            continue
        value = body[name]
        if isinstance(value, bool) and expected is not bool or not isinstance(value, _NUMBER_TYPES[expected]):
            errors[name] = [f"must be a {expected.__name__}"]
            continue
        args[name] = value
    if errors:
        raise serializers.ValidationError(errors)
    return args


class EndpointCommonSerializer(HardwareFields):
    """Fields shared by every endpoint create/update body. Nulls were stripped beforehand."""

    metadata = StrictDictField(required=False)
    labels = LabelsField(required=False)
    min_workers = serializers.IntegerField(min_value=0)
    max_workers = serializers.IntegerField(min_value=0)
    per_worker = serializers.IntegerField(min_value=1)
    post_inference_hooks = serializers.ListField(
        child=ChoiceField(choices=PostInferenceHook.choices), required=False
    )
    optimize_costs = serializers.BooleanField(required=False)
    prewarm = serializers.BooleanField(required=False)
    high_priority = serializers.BooleanField(required=False)
    billing_tags = StrictDictField(required=False)
    default_callback_url = serializers.URLField(required=False, max_length=2048)
    default_callback_auth = CallbackAuthField(required=False)
    public_inference = serializers.BooleanField(required=False)
    task_expires_seconds = serializers.IntegerField(min_value=1, required=False)
    queue_message_timeout_seconds = serializers.IntegerField(min_value=1, max_value=43200, required=False)

    def validate_max_workers(self, value):
        limit = settings.LLME_MAX_WORKERS_LIMIT
        if value > limit:
            raise serializers.ValidationError(f"must be at most {limit}")
        return value

    def validate_metadata(self, value):
        reserved = [key for key in value if key in RESERVED_METADATA_KEYS]
        if reserved:
            raise serializers.ValidationError(f"key {reserved[0]!r} is reserved")
        size = len(json.dumps(value))
        if size > settings.LLME_MAX_METADATA_BYTES:
            raise serializers.ValidationError(
                f"is {size} bytes of JSON; at most {settings.LLME_MAX_METADATA_BYTES} are allowed"
            )
        return value

    def validate_billing_tags(self, value):
        required = ("idempotencyKeyPrefix", "product", "type", "subType", "payee", "payor", "reference")
        missing = [key for key in required if key not in value]
        if missing:
            raise serializers.ValidationError(f"missing keys: {', '.join(missing)}")
        return value

    def validate(self, attrs):
        min_workers, max_workers = attrs.get("min_workers"), attrs.get("max_workers")
        if min_workers is not None and max_workers is not None and min_workers > max_workers:
            raise serializers.ValidationError({"min_workers": ["must not be greater than max_workers"]})
        return attrs


def endpoint_name_field(**kwargs):
    return serializers.CharField(max_length=63, validators=[_valid_endpoint_name], **kwargs)


def _valid_endpoint_name(value: str):
    if not is_label_value(value) or not value:
        raise serializers.ValidationError(
            "must be a valid Kubernetes label value: at most 63 characters, letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )


class CreateLLMEndpointSerializer(EndpointCommonSerializer):
    name = endpoint_name_field()
    model_name = serializers.CharField(max_length=255)
    source = ChoiceField(choices=LLMSource.choices, default=LLMSource.HUGGING_FACE)
    inference_framework = ChoiceField(choices=InferenceFramework.choices, default=InferenceFramework.VLLM)
    inference_framework_image_tag = serializers.CharField(max_length=128, default="latest")
    num_shards = serializers.IntegerField(min_value=1, required=False)
    endpoint_type = ChoiceField(choices=EndpointType.choices, required=False)
    quantize = ChoiceField(choices=Quantization.choices, required=False)
    checkpoint_path = serializers.CharField(max_length=1024, required=False)
    chat_template_override = serializers.CharField(max_length=10_000, required=False, trim_whitespace=False)
    enable_startup_metrics = serializers.BooleanField(required=False)

    def validate_checkpoint_path(self, value):
        if not value.startswith("s3://"):
            raise serializers.ValidationError("must be an s3:// URI (this deployment loads weights from S3)")
        if value.endswith(".tar"):
            raise serializers.ValidationError("must be a folder of weights, not a .tar archive")
        return value.rstrip("/")


class UpdateLLMEndpointSerializer(EndpointCommonSerializer):
    model_name = serializers.CharField(max_length=255, required=False)
    source = ChoiceField(choices=LLMSource.choices, required=False)
    inference_framework_image_tag = serializers.CharField(max_length=128, required=False)
    num_shards = serializers.IntegerField(min_value=1, required=False)
    quantize = ChoiceField(choices=Quantization.choices, required=False)
    checkpoint_path = serializers.CharField(max_length=1024, required=False)
    chat_template_override = serializers.CharField(max_length=10_000, required=False, trim_whitespace=False)
    enable_startup_metrics = serializers.BooleanField(required=False)
    force_bundle_recreation = serializers.BooleanField(required=False, default=False)

    validate_checkpoint_path = CreateLLMEndpointSerializer.validate_checkpoint_path

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("min_workers", "max_workers", "per_worker"):
            self.fields[name].required = False


class CreateEndpointSerializer(EndpointCommonSerializer):
    name = endpoint_name_field()
    model_bundle_id = serializers.CharField(max_length=40)
    endpoint_type = ChoiceField(choices=EndpointType.choices)
    metadata = StrictDictField()
    labels = LabelsField()
    cpus = QuantityField()
    gpus = serializers.IntegerField(min_value=0)
    memory = QuantityField()
    storage = QuantityField()
    concurrent_requests_per_worker = serializers.IntegerField(min_value=1, required=False)
    forwarder_max_concurrency = serializers.IntegerField(min_value=1, max_value=20, required=False)


class UpdateEndpointSerializer(EndpointCommonSerializer):
    model_bundle_id = serializers.CharField(max_length=40, required=False)
    concurrent_requests_per_worker = serializers.IntegerField(min_value=1, required=False)
    forwarder_max_concurrency = serializers.IntegerField(min_value=1, max_value=20, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("min_workers", "max_workers", "per_worker"):
            self.fields[name].required = False
