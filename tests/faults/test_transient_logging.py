"""Best-effort work logs one line for an expected failure and a traceback for the unexpected;
the caller carries on either way."""
import logging

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError

from llmengine_site import transient


def _raise(exc):
    def run():
        raise exc
    return run


def test_an_expected_failure_is_one_line_at_most_once_per_quiet_period(caplog, monkeypatch):
    monkeypatch.setattr(transient, "_last_logged", {})
    blip = ConnectionInterrupted(connection=None)
    blip.__cause__ = RedisConnectionError("Connection refused.")
    with caplog.at_level(logging.WARNING, logger="llmengine.transient"):
        assert transient.best_effort("cache read", _raise(blip)) is None
        assert transient.best_effort("cache read", _raise(blip)) is None  # within the quiet period
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "cache read skipped" in record.getMessage() and "Connection refused" in record.getMessage()


def test_an_unexpected_failure_keeps_its_traceback(caplog, monkeypatch):
    monkeypatch.setattr(transient, "_last_logged", {})
    with caplog.at_level(logging.WARNING, logger="llmengine.transient"):
        assert transient.best_effort("cache read", _raise(KeyError("surprise"))) is None
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
