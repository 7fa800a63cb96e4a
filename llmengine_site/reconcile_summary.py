"""What one reconcile pass did, in one shape for both apps (docs/operations.md#commands): the
endpoints reconciler and the jobs reconciler each return a `ReconcileSummary` subclass, and the
cacher prints both the same way."""
from dataclasses import dataclass, field, fields
from typing import ClassVar


def changes(label: str | None = None):
    """A list of what one kind of change touched (ids or "id: detail" lines); `label` is its
    name in the printed line (default: the field name with spaces)."""
    return field(default_factory=list, metadata={"label": label} if label else {})


@dataclass
class ReconcileSummary:
    noun: ClassVar[str] = "object(s)"
    observed: int = 0
    status_changes: list[str] = changes()
    pruned: list[str] = changes()
    errors: list[str] = changes()

    def counts(self) -> dict[str, int]:
        """How many of each kind of change, by printed label, in field order."""
        return {f.metadata.get("label", f.name.replace("_", " ")): len(getattr(self, f.name))
                for f in fields(self) if isinstance(getattr(self, f.name), list)}

    def eventful(self) -> bool:
        """Whether the pass changed or found anything worth a line."""
        return any(self.counts().values())

    def __str__(self) -> str:
        counts = "; ".join(f"{label}: {count}" for label, count in self.counts().items())
        return f"observed {self.observed} {self.noun}; {counts}"
