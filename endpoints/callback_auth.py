"""Callback credentials of endpoints (`default_callback_auth`: basic username/password or mTLS cert/key).

Secrets are write-only: the secret part of a callback credential is answered as
SECRET_PLACEHOLDER (the official client's model requires a string there), and an update that sends
the placeholder back keeps the stored secret (`keep_stored_callback_secret`).
"""
SECRET_PLACEHOLDER = "<hidden>"
CALLBACK_SECRET_KEYS = {"basic": "password", "mtls": "key"}


def callback_auth_body(auth: dict | None) -> dict | None:
    """`CallbackAuth` without its secret: the password (basic) or the private key (mtls)."""
    if not auth:
        return None
    secret = CALLBACK_SECRET_KEYS.get(auth.get("kind"))
    return {**auth, secret: SECRET_PLACEHOLDER} if secret else {"kind": auth.get("kind")}


def keep_stored_callback_secret(given: dict | None, stored: dict | None) -> dict | None:
    """The callback auth to store on update: a secret sent back as the placeholder (a client
    that read the endpoint and writes it back) keeps the stored one."""
    if not given or not stored or given.get("kind") != stored.get("kind"):
        return given
    secret = CALLBACK_SECRET_KEYS.get(given.get("kind"))
    if secret and given.get(secret) == SECRET_PLACEHOLDER:
        return {**given, secret: stored.get(secret)}
    return given
