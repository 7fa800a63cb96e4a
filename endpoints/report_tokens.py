"""The token with which an async endpoint's forwarder reports task state to the gateway, on the
SQS queue backend (`endpoints/inference/task_reports.py`; docs/security.md#what-isolates-teams).

One token per endpoint, derived from `SECRET_KEY` and the endpoint id: a rebuild renders the same
one (running pods keep working), nobody derives it without `SECRET_KEY`, and the gateway checks
it without a database or Redis lookup. The builder puts it into the endpoint's forwarder Secret;
it lets its holder write the state of that endpoint's tasks and nothing else.
"""
import hashlib
import hmac

from django.conf import settings

ENV = "LLME_TASK_REPORT_TOKEN"  # the forwarder's environment variable (from its Secret)


def token(endpoint_id: str) -> str:
    message = f"llme-task-report:{endpoint_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def is_valid(endpoint_id: str, presented: str) -> bool:
    """Constant-time comparison with the endpoint's token."""
    return hmac.compare_digest(presented.encode(), token(endpoint_id).encode())
