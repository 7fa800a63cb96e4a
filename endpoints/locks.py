"""One writer per endpoint at a time (docs/operations.md#one-writer-per-endpoint): the build,
the teardown and the prune of one endpoint hold `endpoint_lock(endpoint_id)` while they touch its
Kubernetes objects and queue, so a delete can never race its own build.

On PostgreSQL the lock is a session-level advisory lock (`pg_advisory_lock`) keyed by the
endpoint id, so it holds across processes and machines; it is not a transaction, so holding it
over calls to Kubernetes keeps the rule of docs/design.md#desired-state-and-the-flow-of-a-change.
On SQLite (`make run`'s embedded default, one machine) it is an exclusive `flock` on one of
FILE_STRIPES files beside the database (chosen by the same hash), which holds across the gateway's
in-process workers and the cacher; two endpoints that share a file only wait for each other, and
the directory never grows past FILE_STRIPES files however many endpoints come and go.
"""
import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.db import DatabaseError, connection

# The first half of PostgreSQL's two-key advisory lock: endpoint locks never collide with another
# use of advisory locks in the same database. The second key is 32 bits of the endpoint id's hash.
LOCK_CLASS = 0x11E0  # "llme" endpoints
FILE_STRIPES = 1024


def _key(endpoint_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(endpoint_id.encode(), digest_size=4).digest(), "big", signed=True)


@contextlib.contextmanager
def endpoint_lock(endpoint_id: str, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the endpoint's lock for the block. Blocking (the default) waits for the writer
    that holds it and yields True; `blocking=False` yields whether it was taken at once, and
    the caller skips the endpoint on False (it is being written right now)."""
    if connection.vendor == "postgresql":
        with _advisory_lock(endpoint_id, blocking) as taken:
            yield taken
    else:
        with _file_lock(endpoint_id, blocking) as taken:
            yield taken


@contextlib.contextmanager
def _advisory_lock(endpoint_id: str, blocking: bool) -> Iterator[bool]:
    key = _key(endpoint_id)
    with connection.cursor() as cursor:
        if blocking:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, key])
            taken = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, key])
            taken = bool(cursor.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, key])
            except DatabaseError:
                connection.close()  # the session is broken: ending it releases the lock


def _lock_dir() -> Path:
    name = str(connection.settings_dict.get("NAME") or "")
    base = Path(name).parent if name and name != ":memory:" and "mode=memory" not in name else Path(tempfile.gettempdir())
    return base / "endpoint-locks"


@contextlib.contextmanager
def _file_lock(endpoint_id: str, blocking: bool) -> Iterator[bool]:
    directory = _lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{_key(endpoint_id) % FILE_STRIPES:04d}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except BlockingIOError:
            taken = False
        try:
            yield taken
        finally:
            if taken:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
