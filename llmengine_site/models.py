"""API keys: the credential of `api-key` auth mode (docs/design.md#identity-and-ownership)."""
import hashlib
import secrets

from django.db import models

KEY_PREFIX = "llme-"
# Longest user or team id any row stores (owner, created_by, an API key's user and team).
OWNER_MAX_LENGTH = 255


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A credential mapped to a user and a team. Only its SHA-256 is stored."""

    name = models.CharField(max_length=255, blank=True, default="")
    user_id = models.CharField(max_length=OWNER_MAX_LENGTH, db_index=True)
    team_id = models.CharField(max_length=OWNER_MAX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_hint = models.CharField(max_length=16, editable=False, help_text="The first characters of the key")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.key_hint}… ({self.user_id}/{self.team_id})"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new raw key with its hash and hint. The raw key is shown once and never stored."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        return raw, hash_key(raw), raw[: len(KEY_PREFIX) + 6]


class StatusEvent(models.Model):
    """One status transition (or notable step) of an endpoint or a job, for the operator
    (docs/design.md#endpoint-state-machine, docs/design.md#job-state-machine). Both apps' event
    models are this one: the same fields, newest first."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    old_status = models.CharField(max_length=32, blank=True, default="")
    new_status = models.CharField(max_length=32, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.old_status or '∅'} → {self.new_status}"
