"""Tagging schemes: validation, conversion to IOB2, and tags -> word-index spans.

tfner trains and predicts in IOB2 (every entity starts with ``B-``). Files in IOB1
(CoNLL-2003's original release: an entity starts with ``I-`` unless it directly follows
an entity of the same type) are converted on reading. Chunking follows conlleval's rules,
which on valid IOB2 input is the identity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from tfner.errors import ConfigError, DataFormatError

Scheme = Literal["auto", "iob1", "iob2"]
SCHEMES: tuple[str, ...] = ("auto", "iob1", "iob2")

_TAG = re.compile(r"^(?:O|([BI])-(\S+))$")


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``. Raises ``ValueError`` if malformed."""
    m = _TAG.match(tag) if isinstance(tag, str) else None
    if m is None:
        raise ValueError(f"tag {tag!r} is not 'O', 'B-<type>' or 'I-<type>'")
    if m.group(1) is None:
        return "O", None
    return m.group(1), m.group(2)


def starts_entity_iob1(prev: str, tag: str) -> bool:
    """Whether ``tag`` opens an entity after ``prev`` under conlleval/IOB1 rules."""
    p, pt = split_tag(prev)
    t, tt = split_tag(tag)
    if t == "O":
        return False
    if t == "B":
        return True
    return p == "O" or pt != tt  # an I- that does not continue the previous type


def iob2_violation(tags: Sequence[str]) -> int | None:
    """Index of the first ``I-X`` that does not continue an ``X`` entity, or ``None``."""
    prev = "O"
    for i, tag in enumerate(tags):
        t, tt = split_tag(tag)
        if t == "I":
            p, pt = split_tag(prev)
            if p == "O" or pt != tt:
                return i
        prev = tag
    return None


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Re-emit ``tags`` in IOB2 using conlleval chunking. Never mutates ``tags``.

    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    out: list[str] = []
    prev = "O"
    for tag in tags:
        t, tt = split_tag(tag)
        if t == "O":
            out.append("O")
        elif starts_entity_iob1(prev, tag):
            out.append(f"B-{tt}")
        else:
            out.append(f"I-{tt}")
        prev = tag
    return out


def entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities as ``(first_word, end_word_exclusive, type)`` under conlleval chunking.

    >>> entities(["B-PER", "I-PER", "O", "I-LOC"])
    [(0, 2, 'PER'), (3, 4, 'LOC')]
    """
    found: list[tuple[int, int, str]] = []
    start: int | None = None
    kind: str | None = None
    prev = "O"
    for i, tag in enumerate(tags):
        t, tt = split_tag(tag)
        if start is not None and (t == "O" or starts_entity_iob1(prev, tag)):
            found.append((start, i, kind))  # type: ignore[arg-type]
            start = None
        if t != "O" and start is None:
            start, kind = i, tt
        prev = tag
    if start is not None:
        found.append((start, len(tags), kind))  # type: ignore[arg-type]
    return found


def normalize_tags(
    sentences: Sequence[Sequence[str]],
    scheme: Scheme,
    locate: Callable[[int, int], tuple[str, int | None]],
) -> tuple[list[list[str]], str]:
    """Validate every tag and convert the sentences to IOB2.

    Returns the converted tag lists and the scheme that was applied (``"iob1"`` or
    ``"iob2"``; ``"auto"`` picks ``"iob1"`` when some entity starts with ``I-``).
    ``locate(sentence, word)`` gives the ``(source, line)`` named in errors.
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    first_violation: tuple[int, int] | None = None
    for s, tags in enumerate(sentences):
        for w, tag in enumerate(tags):
            try:
                split_tag(tag)
            except ValueError as err:
                raise DataFormatError(*locate(s, w), str(err)) from None
        if first_violation is None:
            v = iob2_violation(tags)
            if v is not None:
                first_violation = (s, v)
    if scheme == "iob2" and first_violation is not None:
        s, w = first_violation
        tag = sentences[s][w]
        prev = sentences[s][w - 1] if w else "O"
        raise DataFormatError(
            *locate(s, w),
            f"tag {tag!r} follows {prev!r} under scheme 'iob2'; expected 'B-{split_tag(tag)[1]}' "
            "or use scheme='iob1'",
        )
    applied = "iob1" if (scheme == "iob1" or (scheme == "auto" and first_violation)) else "iob2"
    return [to_iob2(tags) for tags in sentences], applied
