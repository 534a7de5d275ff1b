"""Immutable entity spans with half-open character offsets.

A :class:`Span` is ``text[start:end]`` labelled ``label``: ``start`` inclusive, ``end``
exclusive, as in spaCy's ``Span.start_char/end_char`` and flair's ``start_pos/end_pos``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Span:
    """An entity: ``text[start:end]`` is its surface string.

    >>> text = "Alice flew to Paris."
    >>> span = Span(start=14, end=19, label="LOC", score=0.98)
    >>> text[span.start:span.end]
    'Paris'
    >>> span == Span(14, 19, "LOC", 0.98)
    True
    """

    start: int
    end: int
    label: str
    score: float | None = None
    text: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if not (0 <= self.start < self.end):
            raise ValueError(f"a span needs 0 <= start < end, got start={self.start}, end={self.end}")
        if not self.label:
            raise ValueError("a span needs a non-empty label")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
