"""Request bodies of the bundle routes (docs/wire-contract.md#model-bundles)."""
from rest_framework import serializers

from llmengine_site.api.fields import ChoiceField, StrictDictField
from endpoints.choices import BundleFlavor


class RunnableImageFlavorSerializer(serializers.Serializer):
    flavor = ChoiceField(choices=BundleFlavor.choices)
    repository = serializers.CharField(max_length=512)
    tag = serializers.CharField(max_length=128)
    command = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False)
    predict_route = serializers.CharField(default="/predict")
    healthcheck_route = serializers.CharField(default="/readyz")
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), default=dict)
    protocol = ChoiceField(choices=["http"], default="http")
    readiness_initial_delay_seconds = serializers.IntegerField(min_value=0, default=120)
    extra_routes = serializers.ListField(child=serializers.CharField(), default=list)
    routes = serializers.ListField(child=serializers.CharField(), default=list)
    forwarder_type = ChoiceField(choices=["default", "passthrough"], default="default")
    worker_command = serializers.ListField(child=serializers.CharField(), required=False)
    worker_env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    streaming_command = serializers.ListField(child=serializers.CharField(), required=False)
    streaming_predict_route = serializers.CharField(required=False)
    app_config = StrictDictField(required=False)

    def validate(self, attrs):
        flavor = attrs["flavor"]
        if flavor == BundleFlavor.RUNNABLE_IMAGE and not attrs.get("command"):
            raise serializers.ValidationError({"command": ["required for runnable_image bundles"]})
        if flavor == BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE:
            if not attrs.get("streaming_command") and not attrs.get("command"):
                raise serializers.ValidationError({"streaming_command": ["required for streaming bundles"]})
            attrs.setdefault("command", [])
            attrs.setdefault("streaming_predict_route", "/stream")
        return attrs


class CreateBundleV2Serializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    metadata = StrictDictField(required=False, default=dict)
    schema_location = serializers.CharField(max_length=1024)
    flavor = StrictDictField()

    def validate_flavor(self, value):
        flavor = value.get("flavor")
        if flavor not in BundleFlavor.values:
            raise serializers.ValidationError(f"flavor must be one of {', '.join(BundleFlavor.values)}")
        if flavor not in (BundleFlavor.RUNNABLE_IMAGE, BundleFlavor.STREAMING_ENHANCED_RUNNABLE_IMAGE):
            return value  # refused by the service with a 400 that says why
        inner = RunnableImageFlavorSerializer(data={k: v for k, v in value.items() if v is not None})
        inner.is_valid(raise_exception=True)
        return inner.validated_data


class CreateBundleV1Serializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    location = serializers.CharField(max_length=1024)
    requirements = serializers.ListField(child=serializers.CharField(), default=list)
    env_params = StrictDictField()
    packaging_type = ChoiceField(choices=["cloudpickle", "zip", "lira"])
    metadata = StrictDictField(required=False, default=dict)
    app_config = StrictDictField(required=False)
    schema_location = serializers.CharField(max_length=1024, required=False)


class CloneBundleSerializer(serializers.Serializer):
    original_model_bundle_id = serializers.CharField(max_length=40)
    new_app_config = StrictDictField(required=False)
