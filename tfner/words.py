"""Splitting raw text into words with character offsets.

tfner tags *words*. For raw text, a word is a maximal run of letters and digits, and
every other non-space character (punctuation, symbols, ``_``) is a word of its own —
the same split BERT's basic tokenizer makes before WordPiece, so entity boundaries
always fall on word boundaries. ``"Dr. O'Neil"`` gives ``Dr``, ``.``, ``O``, ``'``,
``Neil``.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+|[^\s]", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of ``text`` as ``(word, start, end)`` with ``text[start:end] == word``.

    >>> split_words("Hi, Ann-Marie!")
    [('Hi', 0, 2), (',', 2, 3), ('Ann', 4, 7), ('-', 7, 8), ('Marie', 8, 13), ('!', 13, 14)]
    """
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
