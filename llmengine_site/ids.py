"""Opaque prefixed ids, generated in one place (docs/naming.md#ids)."""
import secrets
import uuid

_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # base32hex, lower case, like upstream's XIDs


def _random_part(length: int = 20) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    """`prefix` + 20 random base32hex characters, e.g. `end_` → `end_c3m0k2...`."""
    return f"{prefix}{_random_part()}"


def endpoint_id() -> str:
    return new_id("end_")


def bundle_id() -> str:
    return new_id("bun_")


def fine_tune_id() -> str:
    return new_id("ft-")


def file_id() -> str:
    return new_id("file-")


def trigger_id() -> str:
    return new_id("trig_")


def batch_job_bundle_id() -> str:
    return new_id("batbun_")


def task_id() -> str:
    """Build task ids, async task ids and request ids are UUID4 strings."""
    return str(uuid.uuid4())
