"""A revoked API key stops working on every gateway worker within a second, while an inference
request with a cached key makes no database query (docs/security.md#api-keys)."""
import io
import time

import httpx
import pytest
from django.core.management import call_command
from django.db.backends import utils as db_utils

from tests.fixtures_api import GUIDE_LLAMA_7B
from tests.gateway_process import GatewayProcess
from tests.inference.conftest import create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

COMPLETION = "/v1/llm/completions-sync?model_endpoint_name=llama-7b"
PROMPT = {"prompt": "hi", "max_new_tokens": 2, "temperature": 0.1}


def _create_key(user: str, team: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", "--user", user, "--team", team, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture
def two_gateways(tmp_path):
    gateways = [GatewayProcess(tmp_path / f"gateway-{n}.log", LLME_AUTH_MODE="api-key") for n in (1, 2)]
    try:
        for gateway in gateways:
            gateway.wait_ready()
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()


def test_a_revoked_key_answers_401_within_a_second_on_every_worker(two_gateways):
    from llmengine_site.models import ApiKey
    from llmengine_site.services import api_key_revoke

    key = _create_key("alice", "ml-team")
    other = _create_key("bob", "ml-team")
    with httpx.Client(timeout=5) as client:
        # Each worker has the keys in its in-process map (the endpoint does not exist: 404 is
        # past authentication; a refused key would be 401).
        for gateway in two_gateways:
            for _ in range(3):
                for credential in (key, other):
                    answer = client.post(gateway.url + COMPLETION, json=PROMPT, auth=(credential, ""))
                    assert answer.status_code == 404, answer.text
        api_key_revoke(ApiKey.objects.get(user_id="alice"))
        revoked_at = time.monotonic()
        took = {}
        pending = {gateway.url for gateway in two_gateways}
        while pending and time.monotonic() - revoked_at < 5:
            for url in sorted(pending):
                if client.post(url + COMPLETION, json=PROMPT, auth=(key, "")).status_code == 401:
                    took[url] = time.monotonic() - revoked_at
                    pending.discard(url)
            time.sleep(0.02)
        assert not pending, f"the revoked key still works on {pending} 5 s later"
        assert max(took.values()) < 1.0, took
        # The other key of the team keeps working on both.
        for gateway in two_gateways:
            assert client.post(gateway.url + COMPLETION, json=PROMPT, auth=(other, "")).status_code == 404


class _QueryCounter:
    """Every SQL statement of the process, from any thread (the hot path's database work runs in
    a worker thread, not in the test's)."""

    def __init__(self, monkeypatch):
        self.statements: list[str] = []
        original_execute, original_many = db_utils.CursorWrapper.execute, db_utils.CursorWrapper.executemany

        def execute(cursor, sql, params=None):
            self.statements.append(str(sql))
            return original_execute(cursor, sql, params)

        def executemany(cursor, sql, param_list):
            self.statements.append(str(sql))
            return original_many(cursor, sql, param_list)

        monkeypatch.setattr(db_utils.CursorWrapper, "execute", execute)
        monkeypatch.setattr(db_utils.CursorWrapper, "executemany", executemany)


def test_an_inference_request_with_a_cached_key_makes_no_database_query(gateway, model_server, settings, monkeypatch):
    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B, user="ml-team")  # trust-username: the team's endpoint
    settings.LLME_AUTH_MODE = "api-key"
    key = _create_key("alice", "ml-team")
    with httpx.Client(timeout=10) as client:
        first = client.post(gateway + COMPLETION, json=PROMPT, auth=(key, ""))
        assert first.status_code == 200, first.text
        counter = _QueryCounter(monkeypatch)
        for _ in range(5):
            answer = client.post(gateway + COMPLETION, json=PROMPT, auth=(key, ""))
            assert answer.status_code == 200, answer.text
            time.sleep(0.2)  # spans several revocation-epoch reads
    assert counter.statements == []
    # The counter sees the hot path's queries when there are some: a new key is looked up.
    fresh = _create_key("carol", "ml-team")
    counter.statements.clear()
    assert httpx.post(gateway + COMPLETION, json=PROMPT, auth=(fresh, ""), timeout=10).status_code == 200
    assert any("llmengine_site_apikey" in sql for sql in counter.statements)


def test_without_redis_a_revoke_in_the_process_is_immediate(gateway, model_server, settings):
    """`make run` without REDIS_URL: one process, the local-memory cache; the revoke in that
    process drops the in-process map at once."""
    from llmengine_site.models import ApiKey
    from llmengine_site.services import api_key_revoke

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "revoke"}}
    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B, user="ml-team")
    settings.LLME_AUTH_MODE = "api-key"
    key = _create_key("alice", "ml-team")
    with httpx.Client(timeout=10) as client:
        assert client.post(gateway + COMPLETION, json=PROMPT, auth=(key, "")).status_code == 200
        api_key_revoke(ApiKey.objects.get(user_id="alice"))
        assert client.post(gateway + COMPLETION, json=PROMPT, auth=(key, "")).status_code == 401


def test_a_revoke_while_redis_is_down_is_committed_and_refused_at_once_in_the_process(
        killable_redis, gateway, model_server, settings, caplog):
    """Redis unreachable: the revoke still answers (one log line, no exception), this process
    refuses the key at once, and other keys keep resolving from the database."""
    from llmengine_site.models import ApiKey
    from llmengine_site.services import api_key_revoke

    server, _ = killable_redis
    model_server("tgi")
    create(gateway, GUIDE_LLAMA_7B, user="ml-team")
    settings.LLME_AUTH_MODE = "api-key"
    key, other = _create_key("alice", "ml-team"), _create_key("bob", "ml-team")
    with httpx.Client(timeout=20) as client:
        assert client.post(gateway + COMPLETION, json=PROMPT, auth=(key, "")).status_code == 200
        server.kill()
        api_key_revoke(ApiKey.objects.get(user_id="alice"))
        assert ApiKey.objects.get(user_id="alice").revoked_at is not None
        assert client.post(gateway + COMPLETION, json=PROMPT, auth=(key, "")).status_code == 401
        assert client.post(gateway + COMPLETION, json=PROMPT, auth=(other, "")).status_code == 200
    assert [r for r in caplog.records if "revocation" in r.getMessage()]
