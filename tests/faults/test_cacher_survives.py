"""The cacher outlives any failure of a pass, and its two passes fail independently."""
import logging

import pytest
from django.core.management import call_command
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError

from llmengine_site import cacher
from jobs.reconciler import JobsSummary

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs_pass(monkeypatch):
    calls = []

    def reconcile_jobs(kube):
        calls.append(kube)
        return JobsSummary(launched=["job-1"])

    monkeypatch.setattr(cacher, "reconcile_jobs", reconcile_jobs)
    monkeypatch.setattr(cacher, "get_kube", lambda: "kube")
    return calls


def _raise(exc):
    def reconcile_once(kube):
        raise exc
    return reconcile_once


def test_an_unexpected_exception_in_the_endpoints_pass_is_logged_with_its_traceback_and_the_jobs_pass_runs(
        monkeypatch, jobs_pass, caplog, tmp_path, capsys):
    monkeypatch.setattr(cacher, "reconcile_once", _raise(KeyError("surprise")))
    with caplog.at_level(logging.WARNING, logger="cacher"):
        call_command("run_cacher", "--once", ready_file=str(tmp_path / "ready"))
        call_command("run_cacher", "--once", ready_file=str(tmp_path / "ready"))  # and the next pass too
    assert len(jobs_pass) == 2
    failures = [record for record in caplog.records if "endpoints pass failed" in record.getMessage()]
    assert len(failures) == 2 and all(record.exc_info for record in failures)
    assert not (tmp_path / "ready").exists()  # not ready while a pass fails


def test_a_redis_blip_is_one_line_without_traceback(monkeypatch, jobs_pass, caplog, tmp_path):
    blip = ConnectionInterrupted(connection=None)
    blip.__cause__ = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    monkeypatch.setattr(cacher, "reconcile_once", _raise(blip))
    with caplog.at_level(logging.WARNING, logger="cacher"):
        call_command("run_cacher", "--once", ready_file=str(tmp_path / "ready"))
    (record,) = [record for record in caplog.records if "endpoints pass failed" in record.getMessage()]
    assert record.exc_info is None
    assert "Connection refused" in record.getMessage()
    assert len(jobs_pass) == 1


def test_a_failing_jobs_pass_does_not_stop_the_endpoints_pass(monkeypatch, caplog, tmp_path):
    ran = []
    monkeypatch.setattr(cacher, "get_kube", lambda: "kube")
    monkeypatch.setattr(cacher, "reconcile_once", lambda kube: ran.append("endpoints"))
    monkeypatch.setattr(cacher, "reconcile_jobs", _raise(RuntimeError("jobs broke")))
    with caplog.at_level(logging.WARNING, logger="cacher"):
        call_command("run_cacher", "--once", ready_file=str(tmp_path / "ready"))
    assert ran == ["endpoints"]
    assert any("jobs pass failed" in record.getMessage() for record in caplog.records)
