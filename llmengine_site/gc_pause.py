"""Garbage collection paused around work that builds many objects that all stay alive until it
ends (a list of 10,000 endpoints, a cacher pass): collection passes there would only walk them,
and the rest of the heap, again and again.

Free what was built before the block ends (`del`): objects freed by reference counting while
collection is off are never walked, and objects still alive when it resumes are walked at the
next allocation, in one pass (a full one can take ~200 ms in a large process)."""
import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
