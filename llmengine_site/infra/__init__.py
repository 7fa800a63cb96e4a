"""Adapters to the outside world. Only this package imports `kubernetes` or `boto3`.

Adapters raise `InfraError`, whose home is `llmengine_site/errors.py` with the other errors
and their HTTP mapping (docs/design.md#errors); it is re-exported here for the adapters'
callers."""
from llmengine_site.errors import InfraError

__all__ = ["InfraError"]
