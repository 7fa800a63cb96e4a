"""The shared cache in Redis holds signed JSON: a value written by anyone else, a pickle above
all, is neither executed nor believed."""
import json
import pickle

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from llmengine_site import auth


class RunsOnLoad:
    """A pickle that creates a file when loaded: proof that loading runs code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def raw_redis():
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def api_key_mode(settings):
    settings.LLME_AUTH_MODE = "api-key"


def _api_key_cache_entry(credential: str) -> str:
    return cache.make_key(auth._cache_key(auth.hash_key(credential)))


def test_the_cache_is_redis_with_signed_json_values(raw_redis):
    cache.set("probe", {"team": "ml-team", "ids": ("a", "b")}, 30)
    stored = raw_redis.get(cache.make_key("probe"))
    mac, _, payload = stored.partition(b".")
    assert len(mac) == 64 and json.loads(payload) == {"team": "ml-team", "ids": ["a", "b"]}
    assert cache.get("probe") == {"team": "ml-team", "ids": ["a", "b"]}


def test_a_pickle_under_the_api_key_cache_key_is_not_executed_and_does_not_authenticate(
        db, api_key_mode, raw_redis, tmp_path):
    marker = tmp_path / "pickle-ran"
    raw_redis.set(_api_key_cache_entry("anything"), pickle.dumps(RunsOnLoad(marker)), ex=60)
    assert auth.caller_for_credential("anything") is None
    assert not marker.exists()

    raw_redis.set(_api_key_cache_entry("mallory"), pickle.dumps(("mallory", "victim-team", 1)), ex=60)
    assert auth.caller_for_credential("mallory") is None


def test_unsigned_json_under_the_api_key_cache_key_does_not_authenticate(db, api_key_mode, raw_redis):
    raw_redis.set(_api_key_cache_entry("mallory"), json.dumps(["mallory", "victim-team", 1]), ex=60)
    assert auth.caller_for_credential("mallory") is None


def test_a_value_signed_with_another_secret_key_is_a_miss(raw_redis):
    cache.set("probe", ["ml-team"], 30)
    stored = raw_redis.get(cache.make_key("probe"))
    _, _, payload = stored.partition(b".")
    raw_redis.set(cache.make_key("probe"), b"0" * 64 + b"." + payload)
    assert cache.get("probe") is None
