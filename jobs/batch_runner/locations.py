"""Reading and writing whole objects at an `s3://bucket/key` location or a local path.

boto3 finds its endpoint (`AWS_ENDPOINT_URL`), region and credentials (IRSA) in the
environment, as everywhere else in LLM Engine. Local paths (also `file://…`) serve `make run`
and tests.
"""
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

_s3 = None


class LocationError(Exception):
    """A location could not be read or written; the message names it and the cause."""


class Missing(LocationError):
    """Nothing is stored at the location."""


def _client():
    global _s3
    if _s3 is None:
        import boto3
        import botocore.config

        config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5},
                                        connect_timeout=10, read_timeout=120)
        _s3 = boto3.session.Session().client("s3", config=config)
    return _s3


def _split(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    if not parts.netloc:
        raise LocationError(f"{location}: an s3:// location needs a bucket")
    return parts.netloc, parts.path.lstrip("/")


def _local(location: str) -> Path:
    return Path(location[len("file://"):] if location.startswith("file://") else location)


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def join(location: str, *names: str) -> str:
    return "/".join([location.rstrip("/"), *names])


def read(location: str) -> bytes:
    if is_s3(location):
        bucket, key = _split(location)
        try:
            return _client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise Missing(f"{location}: no such object") from exc
            raise LocationError(f"cannot read {location}: {exc}") from exc
    try:
        return _local(location).read_bytes()
    except FileNotFoundError as exc:
        raise Missing(f"{location}: no such file") from exc
    except OSError as exc:
        raise LocationError(f"cannot read {location}: {exc}") from exc


def write(location: str, data: bytes) -> None:
    """Replace the object at `location` with `data` (a local file is replaced atomically)."""
    if is_s3(location):
        bucket, key = _split(location)
        try:
            _client().put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as exc:
            raise LocationError(f"cannot write {location}: {exc}") from exc
        return
    path = _local(location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        raise LocationError(f"cannot write {location}: {exc}") from exc


def list_names(location: str) -> list[str]:
    """Names of the objects directly under the folder `location` (sorted; none when absent)."""
    if is_s3(location):
        bucket, prefix = _split(location)
        prefix = prefix.rstrip("/") + "/"
        names = []
        try:
            for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                names += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
        except Exception as exc:
            raise LocationError(f"cannot list {location}: {exc}") from exc
        return sorted(name for name in names if name and "/" not in name)
    path = _local(location)
    if not path.is_dir():
        return []
    return sorted(entry.name for entry in path.iterdir() if entry.is_file() and not entry.name.startswith("."))
