"""The one label rule (docs/naming.md#labels-and-annotations): label values and the name part of
label keys follow it, in what we write and in what callers may send."""
import pytest
from rest_framework import serializers

from llmengine_site import labels
from llmengine_site.api.fields import validate_label_key


@pytest.mark.parametrize("text, valid", [
    ("", True), ("a", True), ("team-a_b.c", True), ("x" * 63, True),
    ("x" * 64, False), ("-a", False), ("a-", False), ("a b", False), ("ümlaut", False),
])
def test_label_values(text, valid):
    assert labels.is_label_value(text) is valid
    assert labels.is_label_value(labels.label_value(text))


@pytest.mark.parametrize("key", ["team", "a", "team-a_b.c", "example.com/team", "x" * 63])
def test_valid_label_keys_are_accepted(key):
    validate_label_key(key)


@pytest.mark.parametrize("key, message", [
    ("", "not a valid Kubernetes label name"), ("-team", "not a valid Kubernetes label name"),
    ("team.", "not a valid Kubernetes label name"), ("x" * 64, "not a valid Kubernetes label name"),
    ("example.com/", "not a valid Kubernetes label name"), ("Bad_Prefix/team", "invalid prefix"),
    ("llm-engine.io/endpoint-id", "reserved for the platform"), ("app.kubernetes.io/managed-by", "reserved"),
])
def test_invalid_label_keys_are_refused_with_the_rule(key, message):
    with pytest.raises(serializers.ValidationError, match=message):
        validate_label_key(key)
