"""Request bodies of the files, fine-tune, batch and trigger routes (docs/wire-contract.md#routes).
Nulls are stripped before validation: `null` means "default" (docs/wire-contract.md#null-means-default)."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from llmengine_site.api.fields import GpuTypeField, HardwareFields, LabelsField, QuantityField, StrictDictField


def _without_nulls(value: dict) -> dict:
    return {key: item for key, item in value.items() if item is not None}


class HyperparametersField(StrictDictField):
    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float, dict)):
                raise serializers.ValidationError(f"{name}: must be a string, a number or an object")
        return values


class CreateFineTuneSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=255)
    training_file = serializers.CharField(max_length=2048)
    validation_file = serializers.CharField(max_length=2048, required=False)
    hyperparameters = HyperparametersField(required=False)
    suffix = serializers.CharField(required=False, allow_blank=False, max_length=255)
    wandb_config = StrictDictField(required=False)


class ModelDownloadSerializer(serializers.Serializer):
    model_name = serializers.CharField(max_length=255)
    download_format = serializers.CharField(required=False, default="hugging_face")


class ModelConfigField(StrictDictField):
    """`model_config`: `model` is required; the client's null keys are dropped; `labels` (v1)
    must be Kubernetes labels."""

    def to_internal_value(self, data):
        config = _without_nulls(super().to_internal_value(data))
        if not isinstance(config.get("model"), str) or not config["model"]:
            raise serializers.ValidationError("model: required (the model to run)")
        if "labels" in config:
            config["labels"] = LabelsField().to_internal_value(config["labels"])
        if "num_shards" in config and (not isinstance(config["num_shards"], int) or config["num_shards"] < 1):
            raise serializers.ValidationError("num_shards: must be an integer ≥ 1")
        return config


# The body's `content` (docs/wire-contract.md#batch-completions).
@extend_schema_field({"type": "object", "description": "prompts and sampling settings"})
class ContentField(serializers.Field):
    """v1 content (an object with `prompts`) or, in v2, a list of completion/chat requests."""

    def __init__(self, *, allow_list: bool, **kwargs):
        self.allow_list = allow_list
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            if not isinstance(data.get("prompts"), list) or not all(isinstance(p, str) for p in data["prompts"]):
                raise serializers.ValidationError("prompts: must be a list of strings")
            if not isinstance(data.get("max_new_tokens"), int):
                raise serializers.ValidationError("max_new_tokens: required integer")
            return data
        if self.allow_list and isinstance(data, list) and all(isinstance(item, dict) for item in data):
            return data
        raise serializers.ValidationError(
            "must be an object with prompts" + (" or a list of completion requests" if self.allow_list else ""))

    def to_representation(self, value):
        return value


class BatchCompletionV1Serializer(serializers.Serializer):
    model_config = ModelConfigField()
    content = ContentField(allow_list=False, required=False)
    input_data_path = serializers.CharField(required=False, max_length=2048)
    output_data_path = serializers.CharField(max_length=2048)
    data_parallelism = serializers.IntegerField(min_value=1, max_value=64, required=False, default=1)
    max_runtime_sec = serializers.IntegerField(min_value=1, max_value=172800, required=False, default=86400)
    tool_config = StrictDictField(required=False)


class BatchCompletionV2Serializer(BatchCompletionV1Serializer, HardwareFields):
    content = ContentField(allow_list=True, required=False)
    labels = LabelsField(required=False)
    priority = serializers.CharField(required=False, max_length=64)


class UpdateBatchCompletionSerializer(serializers.Serializer):
    job_id = serializers.CharField(required=False)
    priority = serializers.CharField(required=False, max_length=64)


class ResourceRequestsSerializer(serializers.Serializer):
    cpus = QuantityField(required=False)
    memory = QuantityField(required=False)
    storage = QuantityField(required=False)
    gpus = serializers.IntegerField(min_value=0, required=False)
    gpu_type = GpuTypeField(required=False)
    nodes_per_worker = serializers.IntegerField(min_value=1, max_value=64, required=False)

    def to_internal_value(self, data):
        return super().to_internal_value(_without_nulls(data) if isinstance(data, dict) else data)


class CreateBundleSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    image_repository = serializers.CharField(max_length=512)
    image_tag = serializers.CharField(max_length=128)
    command = serializers.ListField(child=serializers.CharField(allow_blank=True), allow_empty=False)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    mount_location = serializers.CharField(required=False, max_length=1024)
    resource_requests = ResourceRequestsSerializer(required=False)
    public = serializers.BooleanField(required=False, default=False)

    def validate_mount_location(self, value):
        if not value.startswith("/") or value.endswith("/"):
            raise serializers.ValidationError("must be an absolute file path, e.g. /app/config.json")
        return value


class CreateDockerImageBatchJobSerializer(serializers.Serializer):
    docker_image_batch_job_bundle_name = serializers.CharField(required=False)
    docker_image_batch_job_bundle_id = serializers.CharField(required=False)
    job_config = StrictDictField(required=False)
    labels = LabelsField()
    resource_requests = ResourceRequestsSerializer(required=False)
    override_job_max_runtime_s = serializers.IntegerField(min_value=1, required=False)

    def validate(self, attrs):
        given = [key for key in ("docker_image_batch_job_bundle_name", "docker_image_batch_job_bundle_id") if key in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                "exactly one of docker_image_batch_job_bundle_name and docker_image_batch_job_bundle_id is required")
        return attrs


class UpdateDockerImageBatchJobSerializer(serializers.Serializer):
    cancel = serializers.BooleanField()


class CreateTriggerSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    cron_schedule = serializers.CharField(max_length=255)
    bundle_id = serializers.CharField(max_length=40)
    default_job_config = StrictDictField(required=False)
    default_job_metadata = LabelsField(required=False)


class UpdateTriggerSerializer(serializers.Serializer):
    cron_schedule = serializers.CharField(required=False, max_length=255)
    suspend = serializers.BooleanField(required=False)
