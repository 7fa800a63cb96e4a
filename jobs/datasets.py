"""Fine-tuning datasets: where they are and whether their header is usable
(docs/wire-contract.md#fine-tuning).

Only the first line is read: a CSV header, or the first JSON object of a JSONL file. A dataset
is a `file-…` id of the caller's Files, an `s3://` location or an `https://` URL.
"""
import csv
import io
import json

from django.core.files.storage import default_storage

from jobs import selectors, storage
from jobs.choices import DATASET_COLUMN_PAIRS
from llmengine_site import storage_scope
from llmengine_site.auth import Caller
from llmengine_site.errors import InvalidRequest, ObjectNotFound
from llmengine_site.infra import InfraError

_PAIRS_TEXT = " or ".join(f"{a}/{b}" for a, b in DATASET_COLUMN_PAIRS)


def _read_head(caller: Caller, field: str, reference: str) -> tuple[bytes, str]:
    """(first bytes, location the job can read) of a dataset reference."""
    if reference.startswith("file-"):
        file = selectors.files_owned_by(caller).filter(pk=reference).first()
        if file is None:
            raise ObjectNotFound(f"{field}: file {reference} could not be found.")
        return storage.read_file_head(file.storage_key), stored_file_location(file.storage_key)
    try:
        if reference.startswith("s3://"):
            storage_scope.check_path(caller.team_id, field, reference)
            return storage.read_s3_head(reference), reference
        if reference.startswith(("https://", "http://")):
            return storage.read_url_head(reference), reference
    except InfraError as exc:
        raise InvalidRequest(f"{field}: cannot read {reference}: {exc}") from exc
    raise InvalidRequest(f"{field}: {reference!r} is neither a file id (file-…) nor an s3:// or https:// URL")


def stored_file_location(key: str) -> str:
    """Where a job can read an uploaded file: its s3:// URI on S3 storage, else the local path
    (local storage only serves `make run`, where jobs cannot run anyway)."""
    bucket = getattr(default_storage, "bucket_name", None)
    if bucket:
        prefix = (getattr(default_storage, "location", "") or "").strip("/")
        return f"s3://{bucket}/{prefix + '/' if prefix else ''}{key}"
    return default_storage.path(key)


def header_columns(head: bytes, field: str) -> list[str]:
    """The column names of a CSV header or of the first JSONL object."""
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{field}: the dataset is not UTF-8 text (expected CSV or JSONL)") from exc
    first_line = text.lstrip().split("\n", 1)[0].strip()
    if not first_line:
        raise InvalidRequest(f"{field}: the dataset is empty")
    if first_line.startswith("{"):
        try:
            record = json.loads(first_line)
        except (ValueError, RecursionError) as exc:  # the message names a position, never the content
            raise InvalidRequest(f"{field}: the first line is not valid JSON; expected JSONL") from exc
        if not isinstance(record, dict):
            raise InvalidRequest(f"{field}: the first JSONL line must be an object")
        return list(record)
    try:
        return [column.strip() for column in next(csv.reader(io.StringIO(first_line)))]
    except (csv.Error, StopIteration) as exc:
        raise InvalidRequest(f"{field}: the CSV header cannot be parsed") from exc


def check_dataset(caller: Caller, field: str, reference: str) -> str:
    """Validate a dataset reference; returns the location the training job reads.
    Raises ObjectNotFound (unknown/foreign file id) or InvalidRequest (unreadable, bad header)."""
    head, location = _read_head(caller, field, reference)
    columns = header_columns(head, field)
    if not any(a in columns and b in columns for a, b in DATASET_COLUMN_PAIRS):
        raise InvalidRequest(
            f"{field}: Required column headers ({_PAIRS_TEXT}) not found in {reference}; the header has "
            f"{len(columns)} column(s) and none of these pairs"
        )
    return location
