"""Uploaded files (docs/wire-contract.md#files), done right: opaque `file-…` ids, the original
filename kept in the row, content stored byte for byte, owner-scoped reads."""
import charset_normalizer
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
    return settings.LLME_MAX_UPLOAD_BYTES


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
    key = storage.save_file(storage.file_storage_key(caller.team_id, file_id), upload)
    try:
        return File.objects.create(
            id=file_id, owner=caller.team_id, created_by=caller.user_id, filename=upload.name or file_id,
            size=upload.size, storage_key=key, content_type=getattr(upload, "content_type", "") or "",
        )
    except Exception:
        storage.delete_file(key)  # no row, no orphaned bytes
        raise


# Encodings a text file is looked for in, most common first: the order breaks ties between
# encodings that decode a file equally well (a short Windows-1252 CSV also reads as cp1250).
TEXT_ENCODINGS = ("utf_8", "utf_16", "utf_32", "cp1252", "iso8859_15", "latin_1", "cp1250", "cp1251", "koi8_r",
                  "mac_roman", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr")


def decode_text(data: bytes) -> str | None:
    """`data` as text when it is text in a common encoding (detected by charset-normalizer),
    None when it is binary."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    matches = charset_normalizer.from_bytes(data, cp_isolation=list(TEXT_ENCODINGS))
    best = matches.best()
    if best is None:
        return None
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]

    def rank(match) -> int:
        names = [match.encoding, *match.could_be_from_charset]
        return min(TEXT_ENCODINGS.index(n) for n in names if n in TEXT_ENCODINGS)

    chosen = min(tied, key=rank)
    encoding = min((n for n in [chosen.encoding, *chosen.could_be_from_charset] if n in TEXT_ENCODINGS),
                   key=TEXT_ENCODINGS.index)
    return data.decode(encoding)


def file_content_text(file: File) -> str:
    """The file's content as text, in whatever common encoding it was saved (Windows-1252,
    Latin-1, UTF-16, Shift JIS, ...). Raises InvalidRequest for binary content."""
    with storage.open_file(file.storage_key) as handle:
        data = handle.read()
    text = decode_text(data)
    if text is None:
        raise InvalidRequest(
            f"File {file.id} ({file.filename}) is binary (not text in any common encoding), so it cannot be returned "
            f"as a JSON string; download it from the console: /admin/jobs/file/?q={file.id} (select it, then the "
            "action \"Download the selected file\")."
        )
    return text


def file_delete(file: File) -> None:
    """Delete the row and, after commit, the stored bytes (idempotent)."""
    key = file.storage_key
    with transaction.atomic():
        File.objects.filter(pk=file.pk).delete()
        transaction.on_commit(lambda: storage.delete_file(key))
