"""Splitting raw text into words with character offsets.

tfner tags *words*. For raw text it splits where BERT's basic tokenizer splits before
WordPiece, so entity boundaries always fall on word boundaries:

* whitespace separates words and is never part of one;
* every punctuation character (Unicode category ``P*``, and the ASCII symbols
  ``$+<=>^`|~``) is a word of its own, and so is every CJK ideograph;
* everything else — letters, digits, combining marks, other symbols such as ``€``, and
  invisible format characters such as U+200B — belongs to the word around it.

``"Dr. O'Neil"`` gives ``Dr``, ``.``, ``O``, ``'``, ``Neil``; ``"café"`` (with a combining
accent) stays one word. Unlike BERT, format characters are kept (offsets must point into
the original string); a word made of nothing else becomes ``[UNK]`` for the model.
"""

from __future__ import annotations

import re
import unicodedata

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (half an emoji, e.g. ``"\\ud83d"``) replaced by U+FFFD.

    One character for one, so character offsets still index ``text``; the result is valid
    UTF-8, which the tokenizers need. Every route applies it to what it reads: JSONL texts,
    the words of sentences, and ``predict``'s texts.

    >>> replace_lone_surrogates("hi \\ud83d!") == "hi \\ufffd!"
    True
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of ``text`` as ``(word, start, end)`` with ``text[start:end] == word``.

    >>> split_words("Hi, Ann-Marie!")
    [('Hi', 0, 2), (',', 2, 3), ('Ann', 4, 7), ('-', 7, 8), ('Marie', 8, 13), ('!', 13, 14)]
    """
    words: list[tuple[str, int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        if ch.isspace():
            alone = False
        elif _is_punctuation(ch) or _is_cjk(ch):
            alone = True
        else:
            if start is None:
                start = i
            continue
        if start is not None:
            words.append((text[start:i], start, i))
            start = None
        if alone:
            words.append((ch, i, i + 1))
    if start is not None:
        words.append((text[start:], start, len(text)))
    return words
