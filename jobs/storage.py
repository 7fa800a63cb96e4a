"""Where bytes live: uploaded files (django-storages: S3 or a local directory) and objects under
s3:// locations (datasets, fine-tuned weights), through `llmengine_site.infra.aws`.

Guarantees: file content is stored byte for byte under a key made from the file id (never the
filename); reads of a dataset's first line are bounded (`HEAD_BYTES`); every AWS failure comes out
as `InfraError`.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import default_storage

from llmengine_site import storage_scope
from llmengine_site.infra import InfraError
from llmengine_site.infra import aws

HEAD_BYTES = 64 * 1024
PRESIGNED_URL_SECONDS = 3600


def file_storage_key(owner: str, file_id: str) -> str:
    """Uploads live in the team's own prefix (llmengine_site/storage_scope.py)."""
    return storage_scope.team_storage_key(owner, "files", file_id)


def save_file(key: str, content) -> str:
    """Store `content` (a Django File) under `key`; returns the key actually used."""
    return default_storage.save(key, content)


def open_file(key: str):
    return default_storage.open(key, "rb")


def delete_file(key: str) -> None:
    default_storage.delete(key)


def read_file_head(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return handle.read(HEAD_BYTES)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix`); ValueError for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{uri!r} is not an s3:// location")
    return parts.netloc, parts.path.lstrip("/")


def read_s3_head(uri: str) -> bytes:
    """The first `HEAD_BYTES` of an S3 object. Raises InfraError (status 404 when missing)."""
    bucket, key = split_s3_uri(uri)
    try:
        response = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")
        return response["Body"].read()
    except Exception as exc:  # botocore errors only; translated in one place
        error = aws.translate(exc, f"read {uri}")
        if aws.error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
            error.status = 404
        raise error from exc


def _public_host(host: str) -> bool:
    """Whether every address of `host` is a public one (the control plane must not be used to
    read internal services or the cloud metadata endpoint)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return all(ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses)


def read_url_head(url: str) -> bytes:
    """The first `HEAD_BYTES` of an http(s) URL. Raises InfraError (status = the HTTP status)."""
    import httpx

    host = urlsplit(url).hostname or ""
    if not settings.LLME_DATASET_URL_ALLOW_PRIVATE and not _public_host(host):
        raise InfraError(f"{url}: the host does not resolve to a public address", transient=False, status=400)
    try:
        with httpx.stream("GET", url, timeout=10, follow_redirects=False, headers={"Range": f"bytes=0-{HEAD_BYTES - 1}"}) as response:
            if response.status_code not in (200, 206):
                raise InfraError(f"{url}: HTTP {response.status_code}", transient=False, status=response.status_code)
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= HEAD_BYTES:
                    break
            return data[:HEAD_BYTES]
    except httpx.HTTPError as exc:
        raise InfraError(f"{url}: {exc}", transient=True) from exc


def presigned_urls_under(uri: str) -> dict[str, str]:
    """`{basename: presigned GET URL}` for every object under the s3:// prefix `uri`."""
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    s3 = aws.client("s3")
    urls: dict[str, str] = {}
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                urls[key.rsplit("/", 1)[-1]] = s3.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_URL_SECONDS
                )
    except Exception as exc:
        raise aws.translate(exc, f"list {uri}") from exc
    return urls
