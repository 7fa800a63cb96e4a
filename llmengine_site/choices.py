"""Choices both apps share (each app keeps its own statuses in its `choices.py`)."""
from django.db import models


class OrderBy(models.TextChoices):
    """Orderings of the list routes: `newest` and `oldest` by creation time, `alphabetical` by
    name (endpoints and bundles only)."""

    NEWEST = "newest"
    OLDEST = "oldest"
    ALPHABETICAL = "alphabetical"
