"""Adapters to the outside world. Only this package imports `kubernetes` or `boto3`."""
from llmengine_site.infra.errors import InfraError

__all__ = ["InfraError"]
