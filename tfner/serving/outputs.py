"""``predict_text``'s dense outputs -> :class:`Span` lists; the one conversion every caller uses.

``Tagger.predict``, :class:`~tfner.serving.clients.RestClient` and
:class:`~tfner.serving.clients.GrpcClient` all go through :func:`spans_from_outputs`, so the
same request gives equal spans whichever way it is served. No TensorFlow needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfner.data.spans import Span
from tfner.data.words import replace_lone_surrogates
from tfner.errors import DataFormatError


def check_texts(texts: Iterable[str]) -> list[str]:
    """``texts`` read once (a generator, a pandas Series by position) as a list of strings, or
    ``DataFormatError``: for a bare string, something not iterable, or naming the first text that is not a
    string. ``Tagger.predict`` and the serving clients check their input so, before any work."""
    expected = "predict takes a list of strings (wrap a single text in a list)"
    if isinstance(texts, str | bytes):
        raise DataFormatError("texts", None, expected)
    try:
        texts = list(texts)
    except TypeError:
        raise DataFormatError("texts", None, f"{expected}, got {type(texts).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataFormatError(f"texts[{i}]", None, f"each text must be a string, got {type(text).__name__}")
    return texts


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate (half an emoji) replaced by U+FFFD: same length, valid UTF-8
    (:func:`tfner.data.words.replace_lone_surrogates`, the rule the data readers apply too)."""
    return replace_lone_surrogates(text)


def spans_from_outputs(texts: Sequence[str], outputs: Mapping[str, Any]) -> list[list[Span]]:
    """Spans of each text from ``predict_text``'s dense outputs (one row per text)."""
    result = []
    for row, text in enumerate(texts):
        spans = []
        for j in range(int(outputs["num_entities"][row])):
            start, end = int(outputs["entity_start"][row][j]), int(outputs["entity_end"][row][j])
            label = outputs["entity_label"][row][j]
            label = label.decode("utf-8") if isinstance(label, bytes) else str(label)
            spans.append(Span(start, end, label, float(outputs["entity_score"][row][j]), text[start:end]))
        result.append(spans)
    return result


