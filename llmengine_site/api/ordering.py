"""The `order_by` query parameter of the list routes (docs/wire-contract.md#http-conventions)."""
from rest_framework import serializers

from llmengine_site.choices import OrderBy


def order_by(request, allowed: tuple[str, ...] = tuple(OrderBy)) -> str | None:
    """The requested ordering, one of `allowed`, or None when not given; a 422 naming the
    parameter and the valid values otherwise."""
    value = request.query_params.get("order_by")
    if value and value not in allowed:
        names = [str(choice) for choice in allowed]
        raise serializers.ValidationError(
            {"order_by": [f"must be {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else f"must be {names[0]}"]})
    return value
