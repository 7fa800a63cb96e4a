"""Request bodies: nulls, validation through a serializer (docs/wire-contract.md#null-means-default)."""
from rest_framework import serializers


class InvalidRequestBody(serializers.ValidationError):
    def __init__(self):
        super().__init__({"non_field_errors": ["The request body must be a JSON object"]})


def strip_nulls(data) -> dict:
    """`null` means "default" on create and "not provided" on update
    (docs/wire-contract.md#null-means-default)."""
    if not isinstance(data, dict):
        raise InvalidRequestBody()
    return {key: value for key, value in data.items() if value is not None}


def validated(serializer_class, data: dict) -> dict:
    """The serializer's validated data; a 422 naming every bad field otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
