"""API key issue and revoke (docs/design.md#identity-and-ownership)."""
from django.db import transaction
from django.utils import timezone

from llmengine_site.auth import forget_api_key
from llmengine_site.models import ApiKey


def api_key_create(*, user_id: str, team_id: str, name: str = "") -> tuple[ApiKey, str]:
    """Issue a key for `user_id` in `team_id`. Returns the row and the raw key, which is shown
    to the person once and never stored."""
    raw, key_hash, hint = ApiKey.generate()
    key = ApiKey.objects.create(name=name, user_id=user_id, team_id=team_id or user_id, key_hash=key_hash, key_hint=hint)
    return key, raw


def api_key_revoke(key: ApiKey) -> None:
    """Stop the key working at once, on every gateway worker within a second (idempotent).
    The caches are told once the revocation is committed: told earlier, a lookup could read the
    key as still valid and cache it again (docs/security.md#api-keys)."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    key_hash = key.key_hash
    transaction.on_commit(lambda: forget_api_key(key_hash))
