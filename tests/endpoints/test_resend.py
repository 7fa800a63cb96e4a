"""Lost builds are re-sent, at most once per LLME_RESEND_AFTER_SECONDS
(docs/operations.md#the-flow-of-a-change)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.models import ModelEndpoint
from endpoints.reconciler import Summary, resend_stuck


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def stuck_endpoint(owner, body, minutes_ago=5) -> ModelEndpoint:
    response = owner.post("/v1/llm/model-endpoints", body, format="json")
    assert response.status_code == 200, response.json()
    ModelEndpoint.objects.filter(name=body["name"]).update(
        last_updated_at=timezone.now() - timedelta(minutes=minutes_ago))  # its message was never consumed
    return ModelEndpoint.objects.get(name=body["name"])


def resend_pass(now) -> list[str]:
    summary = Summary()
    resend_stuck(list(ModelEndpoint.objects.all()), summary, now=now)
    return summary.resent


def test_several_passes_within_the_threshold_resend_once(owner, guide_llama_7b, settings):
    settings.LLME_RESEND_AFTER_SECONDS = 60
    stuck_endpoint(owner, guide_llama_7b)
    start = timezone.now()
    sent = [resend_pass(start + timedelta(seconds=s)) for s in (0, 10, 20, 59)]
    assert sent == [["llama-7b"], [], [], []]
    assert ModelEndpoint.objects.get(name="llama-7b").resent_at == start
    assert resend_pass(start + timedelta(seconds=61)) == ["llama-7b"]  # still stuck a threshold later


def test_the_threshold_is_a_setting(owner, guide_llama_7b, settings):
    settings.LLME_RESEND_AFTER_SECONDS = 600
    stuck_endpoint(owner, guide_llama_7b, minutes_ago=5)
    assert resend_pass(timezone.now()) == []  # 5 minutes is not stuck under a 10-minute threshold
    settings.LLME_RESEND_AFTER_SECONDS = 120
    assert resend_pass(timezone.now()) == ["llama-7b"]
