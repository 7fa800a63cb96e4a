"""Uploaded files (docs/wire-contract.md#files), done right: opaque `file-…` ids, the original
filename kept in the row, content stored byte for byte, owner-scoped reads."""
from django.conf import settings
from django.db import transaction

from jobs import storage
from jobs.models import File
from llmengine_site import ids
from llmengine_site.auth import Caller
from llmengine_site.errors import DomainError, InvalidRequest


class PayloadTooLarge(DomainError):
    status_code = 413


def max_upload_bytes() -> int:
    return int(getattr(settings, "LLME_MAX_UPLOAD_BYTES", 512 * 1024 * 1024))


def too_large(size: int) -> PayloadTooLarge:
    limit = max_upload_bytes()
    return PayloadTooLarge(
        f"The file is {size} bytes; uploads are limited to {limit} bytes (LLME_MAX_UPLOAD_BYTES)."
    )


def file_upload(caller: Caller, upload) -> File:
    """Store an uploaded file (a Django UploadedFile) and its row. Raises PayloadTooLarge over
    the limit. Two uploads never share storage, whatever their names."""
    if upload.size > max_upload_bytes():
        raise too_large(upload.size)
    file_id = ids.file_id()
    key = storage.save_file(storage.file_storage_key(file_id), upload)
    try:
        return File.objects.create(
            id=file_id, owner=caller.team_id, created_by=caller.user_id, filename=upload.name or file_id,
            size=upload.size, storage_key=key, content_type=getattr(upload, "content_type", "") or "",
        )
    except Exception:
        storage.delete_file(key)  # no row, no orphaned bytes
        raise


def file_content_text(file: File) -> str:
    """The file's content as text. Raises InvalidRequest for content that is not UTF-8."""
    with storage.open_file(file.storage_key) as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"File {file.id} ({file.filename}) is binary (not UTF-8 text), so it cannot be returned as a JSON "
            "string; operators can download it from the admin (Files → Download)."
        ) from exc


def file_delete(file: File) -> None:
    """Delete the row and, after commit, the stored bytes (idempotent)."""
    key = file.storage_key
    with transaction.atomic():
        File.objects.filter(pk=file.pk).delete()
        transaction.on_commit(lambda: storage.delete_file(key))
