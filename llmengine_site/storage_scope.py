"""Which storage paths a team may name (docs/security.md#what-isolates-teams).

The control plane reads and presigns objects with its own credentials, so a path a caller gives
must be one its team may reach. A team may name:

- its own prefix under the platform bucket, `s3://<LLME_S3_BUCKET>/<LLME_S3_PREFIX>/teams/<team>/`
  (its uploads live there; batch inputs and outputs go there), read and write;
- its fine-tune outputs, `<LLME_FINE_TUNE_REPOSITORY>/<team>/` (read and write);
- the operator's read-only prefixes for shared base weights, `LLME_SHARED_READ_PREFIXES`.

Anything else is an `InvalidRequest` (400) naming the field and the allowed prefixes. `<team>` is
the team id with every character other than letters, digits, `-`, `_` and `.` percent-encoded, so
two teams never share a prefix. Paths with empty, `.` or `..` segments are refused outright.
"""
from urllib.parse import quote, urlsplit

from django.conf import settings

from llmengine_site.errors import InvalidRequest

TEAMS_FOLDER = "teams"


def team_segment(team_id: str) -> str:
    """The team's folder name: the id itself for ordinary ids, percent-encoded otherwise."""
    segment = quote(team_id, safe="-_.")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def _s3_prefix() -> str:
    return settings.LLME_S3_PREFIX


def team_prefix(team_id: str) -> str | None:
    """`s3://<bucket>/<prefix>/teams/<team>/`, or None when no bucket is configured."""
    bucket = settings.LLME_S3_BUCKET
    if not bucket:
        return None
    folder = "/".join(part for part in (_s3_prefix(), TEAMS_FOLDER, team_segment(team_id)) if part)
    return f"s3://{bucket}/{folder}/"


def team_storage_key(team_id: str, *parts: str) -> str:
    """A key of the default storage (which already adds `LLME_S3_PREFIX`) inside the team's prefix."""
    return "/".join((TEAMS_FOLDER, team_segment(team_id), *parts))


def fine_tune_repository() -> str:
    """Where fine-tuned weights go (an s3:// prefix), '' when fine-tuning has nowhere to write."""
    repository = settings.LLME_FINE_TUNE_REPOSITORY
    if not repository and settings.LLME_S3_BUCKET:
        repository = f"s3://{settings.LLME_S3_BUCKET}/fine_tuned_weights"
    return repository.rstrip("/")


def fine_tune_prefix(team_id: str) -> str | None:
    repository = fine_tune_repository()
    return f"{repository}/{team_segment(team_id)}/" if repository else None


def shared_read_prefixes() -> list[str]:
    return [prefix.rstrip("/") + "/" for prefix in settings.LLME_SHARED_READ_PREFIXES if prefix]


def allowed_prefixes(team_id: str, write: bool = False) -> list[str]:
    """The prefixes a team may name: its own two, plus the shared read-only ones when reading."""
    own = [prefix for prefix in (team_prefix(team_id), fine_tune_prefix(team_id)) if prefix]
    return own if write else own + shared_read_prefixes()


def _normal(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        return False
    segments = parts.path.lstrip("/").split("/")
    inner = segments[:-1] if segments and segments[-1] == "" else segments  # a trailing "/" is fine
    return bool(inner) and all(segment not in ("", ".", "..") for segment in inner)


def within(uri: str, prefix: str) -> bool:
    return uri.startswith(prefix) or uri == prefix.rstrip("/")


def may_name(team_id: str, uri: str, write: bool = False) -> bool:
    return _normal(uri) and any(within(uri, prefix) for prefix in allowed_prefixes(team_id, write))


def check_path(team_id: str, field: str, uri: str, write: bool = False) -> str:
    """`uri` when the team may read (or, with `write`, write) it; else InvalidRequest naming the
    field and the allowed prefixes."""
    if may_name(team_id, uri, write):
        return uri
    allowed = allowed_prefixes(team_id, write)
    where = ", ".join(allowed) if allowed else "none (no bucket is configured: set LLME_S3_BUCKET)"
    raise InvalidRequest(
        f"{field}: {uri!r} is outside the storage your team may {'write' if write else 'read'}; "
        f"allowed prefixes: {where}"
    )
