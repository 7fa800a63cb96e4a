"""Secrets on console pages read "set", never their value, for every role: the forwarder Secret
among an async endpoint's manifests, a fine-tune's wandb api_key, a trigger's job config."""
import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from endpoints.builder import endpoint_spec, preview_queue_url
from endpoints.manifests import render_endpoint
from jobs.models import BatchJob, DockerImageBatchJobBundle, Trigger
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db

REDIS_PASSWORD = "control-plane-redis-password"
WANDB_KEY = "wandb-key-of-team-a"
TRIGGER_TOKEN = "token-of-team-a"


@pytest.fixture(params=["viewer_client", "operator_client"])
def console(request):
    return request.getfixturevalue(request.param)


def _secret_values(objects) -> list[str]:
    return [value for obj in objects if obj["kind"] == "Secret"
            for field in ("data", "stringData") for value in (obj.get(field) or {}).values()]


@pytest.mark.parametrize("queue_backend", ["redis", "sqs"])
def test_async_endpoint_page_shows_the_forwarder_secret_as_set(console, settings, queue_backend):
    settings.REDIS_URL = f"redis://:{REDIS_PASSWORD}@redis.control-plane:6379/0"
    settings.LLME_QUEUE_BACKEND = queue_backend
    endpoint = make_endpoint("echo-async", endpoint_type="async")
    spec = endpoint_spec(endpoint, preview_queue_url(endpoint, look_up=False))
    secrets = _secret_values(render_endpoint(spec, keda_available=True, lws_available=False))
    assert secrets  # the page has a Secret to hide
    page = console.get(reverse("admin:endpoints_modelendpoint_change", args=[quote(endpoint.pk)]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "kind: Secret" in html and ": set" in html
    assert REDIS_PASSWORD not in html
    for value in secrets:
        assert value not in html


def test_fine_tune_page_shows_the_wandb_api_key_as_set(console):
    job = BatchJob.objects.create(
        kind="fine_tune", owner="team-a", created_by="user-a", image="llm-engine/fine-tune:1",
        mount_location="/restricted_launch/fine_tune_config.json", max_runtime_seconds=3600,
        job_config={"model_name": "llama-2-7b.run", "wandb_config": {"api_key": WANDB_KEY, "project": "p"}})
    page = console.get(reverse("admin:jobs_finetune_change", args=[quote(job.pk)]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "llama-2-7b.run" in html and "&quot;api_key&quot;: &quot;set&quot;" in html
    assert WANDB_KEY not in html


def test_trigger_page_shows_credentials_in_its_job_config_as_set(console):
    bundle = DockerImageBatchJobBundle.objects.create(
        name="nightly", owner="team-a", created_by="user-a", image_repository="team-a/job", image_tag="1")
    trigger = Trigger.objects.create(
        name="nightly", owner="team-a", created_by="user-a", cron_schedule="0 * * * *", bundle=bundle,
        default_job_config={"source": "s3://bucket/team-a/in", "service_token": TRIGGER_TOKEN})
    page = console.get(reverse("admin:jobs_trigger_change", args=[quote(trigger.pk)]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "s3://bucket/team-a/in" in html and "&quot;service_token&quot;: &quot;set&quot;" in html
    assert TRIGGER_TOKEN not in html
