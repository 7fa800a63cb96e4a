"""Request fields shared by the serializers of both apps (docs/design.md#layers-and-dependencies)."""
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from endpoints.choices import GpuType
from endpoints.resources import normalize_quantity, parse_quantity
from llmengine_site.errors import InvalidRequest
from llmengine_site.labels import RESERVED_PREFIXES, is_label_value

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}], "example": "40Gi"})
class QuantityField(serializers.Field):
    """A Kubernetes quantity given as a string or a number; stored as a string."""

    default_error_messages = {"invalid": "{message}"}

    def to_internal_value(self, data):
        try:
            parse_quantity(data, self.field_name)
        except InvalidRequest as exc:
            raise serializers.ValidationError(exc.message) from exc
        return normalize_quantity(data)

    def to_representation(self, value):
        return value


class StrictDictField(serializers.DictField):
    """A JSON object (a list or a string is refused, with the field named)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        return super().to_internal_value(data)


def validate_label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or not is_label_value(name):  # a key's name follows the label-value rule, non-empty
        raise serializers.ValidationError(f"label key {key!r} is not a valid Kubernetes label name")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        raise serializers.ValidationError(f"label key {key!r} has an invalid prefix")
    if key.startswith(RESERVED_PREFIXES):  # keys the platform writes itself
        raise serializers.ValidationError(f"label key {key!r} is reserved for the platform")


class LabelsField(serializers.DictField):
    """Kubernetes labels: valid keys and values, none of the platform's own keys."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(allow_blank=True, max_length=63), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object of label names to values")
        labels = super().to_internal_value(data)
        for key, value in labels.items():
            validate_label_key(key)
            if not is_label_value(value):
                raise serializers.ValidationError(
                    f"label {key}={value!r} is not a valid Kubernetes label value "
                    "(at most 63 characters: letters, digits, '-', '_', '.', starting and ending alphanumeric)"
                )
        return labels


class CallbackAuthField(StrictDictField):
    def to_internal_value(self, data):
        auth = super().to_internal_value(data)
        kind = auth.get("kind")
        if kind == "basic":
            missing = [key for key in ("username", "password") if not isinstance(auth.get(key), str)]
        elif kind == "mtls":
            missing = [key for key in ("cert", "key") if not isinstance(auth.get(key), str)]
        else:
            raise serializers.ValidationError("kind must be 'basic' or 'mtls'")
        if missing:
            raise serializers.ValidationError(f"{kind} callback auth needs {', '.join(missing)}")
        return auth


class ChoiceField(serializers.ChoiceField):
    """A choice whose error names the value given and lists the valid ones."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            valid = ", ".join(str(choice) for choice in self.choices)
            raise serializers.ValidationError(
                f'"{data}" is not a valid choice; valid choices: {valid}{self.hint(data)}', code="invalid_choice"
            ) from None

    def hint(self, data) -> str:
        return ""


class GpuTypeField(ChoiceField):
    """gpu_type: a node label given instead (the guide's node-group table shows both) is named."""

    def __init__(self, **kwargs):
        super().__init__(choices=GpuType.choices, **kwargs)

    def hint(self, data) -> str:
        from django.conf import settings

        gpu_types = sorted(gpu for gpu, label in settings.LLME_GPU_NODE_LABELS.items() if label == data)
        if gpu_types and str(data) not in gpu_types:
            return f" ({data} is the node label of gpu_type {' or '.join(gpu_types)})"
        return ""


class HardwareFields(serializers.Serializer):
    """Per-worker resources, all optional (a subclass makes some required)."""

    cpus = QuantityField(required=False)
    gpus = serializers.IntegerField(min_value=0, required=False)
    memory = QuantityField(required=False)
    storage = QuantityField(required=False)
    gpu_type = GpuTypeField(required=False)
    nodes_per_worker = serializers.IntegerField(min_value=1, required=False)
