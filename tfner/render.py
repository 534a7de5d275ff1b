"""Entities drawn in their text as HTML, displaCy-style, for notebooks (no external CSS or JS).

>>> from tfner import Span
>>> html = render("Alice flew to Paris.", [Span(0, 5, "PER", 0.98), Span(14, 19, "LOC", 0.9)])
>>> "Alice" in html and ">PER<" in html and html.count("<mark") == 2
True
>>> render("a < b", [])  # the text is escaped
'<div class="tfner-entities" style="line-height: 2.5; direction: ltr">a &lt; b</div>'
"""

from __future__ import annotations

import hashlib
import html as _html
from collections.abc import Sequence
from typing import Any

from tfner.errors import DataFormatError

#: displaCy's colours for the usual types; other labels get a stable pastel from their name.
COLOURS = {"PER": "#aa9cfc", "PERSON": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "GPE": "#feca74",
           "MISC": "#c887fb", "DATE": "#bfe1d9", "PRODUCT": "#bfeeb7", "EVENT": "#ffeb80"}


def colour(label: str) -> str:
    if label in COLOURS:
        return COLOURS[label]
    h = int(hashlib.sha1(label.encode("utf-8")).hexdigest()[:6], 16)
    return f"hsl({h % 360}, 70%, 80%)"


class HTML(str):
    """An HTML string that Jupyter displays as HTML (``_repr_html_``)."""

    def _repr_html_(self) -> str:
        return str(self)


def render(text: str | Sequence[str], spans: Sequence[Any] | Sequence[Sequence[Any]], *,
           show_scores: bool = False) -> HTML:
    """HTML of ``text`` with each span (``start``, ``end``, ``label``, optional ``score``) marked.

    ``text`` may also be a list of texts with one span list each (``tagger.predict``'s output).
    Spans must lie inside the text and not overlap (``DataFormatError`` otherwise).
    """
    if not isinstance(text, str):
        texts = list(text)
        if len(texts) != len(spans):
            raise DataFormatError("spans", None, f"{len(texts)} texts but {len(spans)} span lists")
        return HTML("\n".join(render(t, s, show_scores=show_scores) for t, s in zip(texts, spans, strict=True)))
    parts, at = [], 0
    for i, span in enumerate(sorted(spans, key=lambda s: (s.start, s.end))):
        if not 0 <= span.start < span.end <= len(text):
            raise DataFormatError("spans", None, f"span {i} [{span.start}, {span.end}) is outside the text "
                                  f"(length {len(text)})")
        if span.start < at:
            raise DataFormatError("spans", None, f"span {i} [{span.start}, {span.end}) overlaps the one before")
        label = _html.escape(span.label)
        score = getattr(span, "score", None)
        title = f' title="{label} {score:.2f}"' if score is not None else f' title="{label}"'
        tag = label + (f" {score:.2f}" if show_scores and score is not None else "")
        parts.append(_html.escape(text[at:span.start]))
        parts.append(
            f'<mark class="tfner-entity"{title} style="background: {colour(span.label)}; padding: 0.45em 0.6em; '
            'margin: 0 0.25em; line-height: 1; border-radius: 0.35em">'
            f'{_html.escape(text[span.start:span.end])}'
            '<span style="font-size: 0.8em; font-weight: bold; line-height: 1; border-radius: 0.35em; '
            f'vertical-align: middle; margin-left: 0.5rem">{tag}</span></mark>')
        at = span.end
    parts.append(_html.escape(text[at:]))
    return HTML('<div class="tfner-entities" style="line-height: 2.5; direction: ltr">' + "".join(parts) + "</div>")
