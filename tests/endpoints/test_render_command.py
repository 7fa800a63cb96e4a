"""`manage.py render_endpoint_manifests` previews every endpoint, async ones on SQS included."""
import io

import pytest
import yaml
from django.core.management import call_command

from endpoints.builder import endpoint_sync
from llmengine_site.names import endpoint_group_name
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db


def _render(name: str, *flags) -> list[dict]:
    out = io.StringIO()
    call_command("render_endpoint_manifests", name, *flags, stdout=out)
    return [obj for obj in yaml.safe_load_all(out.getvalue()) if obj]


def _sqs_trigger(objects) -> dict:
    (scaler,) = [obj for obj in objects if obj["kind"] == "ScaledObject"]
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    return trigger["metadata"]


def test_offline_render_of_an_async_endpoint_on_sqs_names_the_queue_sqs_will_give(settings):
    settings.LLME_QUEUE_BACKEND = "sqs"
    endpoint = make_endpoint("echo-async", endpoint_type="async", min_workers=0)
    objects = _render("echo-async", "--offline")
    assert _sqs_trigger(objects)["queueURL"] == (
        f"https://sqs.{settings.LLME_AWS_REGION}.amazonaws.com/{settings.LLME_AWS_ACCOUNT_ID}/"
        f"llm-engine-endpoint-id-{endpoint.id}")
    assert {"Deployment", "ConfigMap", "ScaledObject"} <= {obj["kind"] for obj in objects}


def test_render_of_a_built_async_endpoint_on_sqs_uses_its_queue_url(settings, k8s_api, aws):
    settings.LLME_QUEUE_BACKEND = "sqs"
    endpoint = make_endpoint("echo-async", endpoint_type="async", min_workers=0)
    endpoint_sync(endpoint.id)
    endpoint.refresh_from_db()
    assert endpoint.status == "READY", endpoint.status_reason
    applied = k8s_api.get_object("ScaledObject", settings.LLME_ENDPOINT_NAMESPACE, endpoint_group_name(endpoint.id))
    built_url = applied["spec"]["triggers"][0]["metadata"]["queueURL"]
    assert built_url.endswith(f"/llm-engine-endpoint-id-{endpoint.id}")
    assert _sqs_trigger(_render("echo-async"))["queueURL"] == built_url
