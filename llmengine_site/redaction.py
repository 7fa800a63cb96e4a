"""What the console shows in place of a secret: "set", never the value, for every role.

Two shapes of secret reach console pages: Kubernetes Secrets among rendered manifests (the
forwarder's Redis credential, a job's config) and credentials inside JSON a tenant gave (a
fine-tune's `wandb_config.api_key`, a trigger's default job config).
"""
import re

SHOWN = "set"
# Keys whose values are credentials wherever they appear in tenant JSON.
CREDENTIAL_KEY = re.compile(r"(api[_-]?key|password|passwd|secret|token|credential|auth)", re.IGNORECASE)


def redact_credentials(value):
    """A copy of `value` (JSON-like) with every credential-named key's value replaced by "set"."""
    if isinstance(value, dict):
        return {key: (SHOWN if CREDENTIAL_KEY.search(str(key)) and item not in (None, "")
                      else redact_credentials(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_credentials(item) for item in value]
    return value


def redact_secret_objects(objects: list[dict]) -> list[dict]:
    """Rendered Kubernetes objects with the values of every Secret replaced by "set"."""
    shown = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            obj = {**obj, **{field: {key: SHOWN for key in obj[field]}
                             for field in ("data", "stringData") if isinstance(obj.get(field), dict)}}
        shown.append(obj)
    return shown
