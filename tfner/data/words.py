"""Splitting raw text into words with character offsets.

tfner tags *words*. For raw text it splits where BERT's basic tokenizer splits before
WordPiece, so entity boundaries always fall on word boundaries:

* whitespace separates words and is never part of one;
* every punctuation character (Unicode category ``P*``, and the ASCII symbols
  ``$+<=>^`|~``) is a word of its own, and so is every CJK ideograph; so are the four symbols
  an uncased model's normaliser turns into ASCII punctuation by stripping their accent (``≠ ≮ ≯``
  and the Greek varia U+1FEF: NFD gives ``=``, ``<``, ``>`` and a combining mark, or a backtick),
  or the Python route's pre-tokenizer would split the normalised word where the graph's
  WordPiece does not; and the two characters the tokenizers' older Unicode tables still call
  punctuation (U+166D, U+111C9);
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


def _is_ascii_punctuation(cp: int) -> bool:
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


#: punctuation (category Po) in the Unicode tables of Hugging Face's tokenizers, no longer in Python's
#: (the Canadian syllabics chi sign is So there, the Sharada sandhi mark Mn): BERT's
#: pre-tokenizer splits at them, so split_words does too
_PRE_TOKENIZER_PUNCTUATION = frozenset("\u166d\U000111c9")


def _is_punctuation(ch: str) -> bool:
    if _is_ascii_punctuation(ord(ch)) or ch in _PRE_TOKENIZER_PUNCTUATION:
        return True
    category = unicodedata.category(ch)
    if category.startswith("P"):
        return True
    if category.startswith("S"):  # a symbol that is ASCII punctuation once its accents are stripped (≠ is "=" + U+0338)
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
        return len(base) == 1 and base != ch and _is_ascii_punctuation(ord(base))
    return False


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
