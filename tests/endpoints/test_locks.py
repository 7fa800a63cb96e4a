"""`endpoint_lock`: one writer per endpoint at a time, across connections (PostgreSQL advisory
lock) and across processes on SQLite (a file lock)."""
import threading

import pytest
from django.db import connection

from endpoints import locks
from endpoints.locks import endpoint_lock


def _in_thread(func):
    """Run `func` on its own thread (and so its own database session); return its result."""
    result = {}

    def run():
        try:
            result["value"] = func()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return result["value"]


def _try(endpoint_id):
    def attempt():
        with endpoint_lock(endpoint_id, blocking=False) as taken:
            return taken
    return attempt


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_held_lock_refuses_another_session_and_spares_other_endpoints():
    with endpoint_lock("end_a") as taken:
        assert taken
        assert _in_thread(_try("end_a")) is False
        assert _in_thread(_try("end_b")) is True
    assert _in_thread(_try("end_a")) is True  # released on leaving the block


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_blocking_lock_waits_for_the_holder():
    order = []
    holding, release = threading.Event(), threading.Event()

    def holder():
        with endpoint_lock("end_a"):
            holding.set()
            release.wait(10)
            order.append("holder done")
        return True

    thread = threading.Thread(target=lambda: _in_thread(holder))
    thread.start()
    assert holding.wait(10)

    def waiter_body():
        with endpoint_lock("end_a"):
            order.append("waiter in")
        return True

    waiter = threading.Thread(target=lambda: _in_thread(waiter_body))
    waiter.start()
    waiter.join(0.5)
    assert order == []  # still waiting
    release.set()
    thread.join(10)
    waiter.join(10)
    assert order == ["holder done", "waiter in"]


def test_on_sqlite_the_lock_is_a_file_lock_between_openers(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "_lock_dir", lambda: tmp_path / "endpoint-locks")
    with locks._file_lock("end_a", blocking=True) as taken:
        assert taken
        with locks._file_lock("end_a", blocking=False) as again:
            assert again is False  # a second opener (another thread or process) must wait
        with locks._file_lock("end_b", blocking=False) as other:
            assert other is True
    with locks._file_lock("end_a", blocking=False) as after:
        assert after is True


def test_on_sqlite_lock_files_do_not_pile_up_with_endpoints(tmp_path, monkeypatch):
    """`make run` creates and deletes endpoints for months: one file per endpoint id ever seen
    would fill the directory; the locks share a fixed set of files."""
    monkeypatch.setattr(locks, "_lock_dir", lambda: tmp_path / "endpoint-locks")
    for index in range(3 * locks.FILE_STRIPES):
        with locks._file_lock(f"end_{index:06d}", blocking=False) as taken:
            assert taken
    assert len(list((tmp_path / "endpoint-locks").iterdir())) <= locks.FILE_STRIPES
