"""Per-code-point tables that let a TensorFlow graph split and normalise text as tfner does.

The text-serving signature (``tfner.serving.text_graph``) cannot call Python. Everything it
needs to know about a character is computed here once, at export time, from the same rules
the Python path uses, and frozen into the graph as constant arrays:

* :func:`split_table`: the word-splitting class of every code point, from the predicates of
  :func:`tfner.data.words.split_words` (``SPACE``, ``ALONE`` for punctuation and CJK
  ideographs, ``WORD`` for the rest), run-length encoded as sorted run starts.
* :func:`normalizer_table`: what the encoder's own fast tokenizer does to each code point
  before WordPiece (BERT's normaliser: drop control, format and unassigned characters,
  lower-case and strip accents for uncased models), read off the tokenizer itself: a
  run-length table of dropped code points and a sorted table of the others that change.

A graph looks a code point up with a binary search (``searchsorted``) in a run table.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from tfner.data.words import _is_cjk, _is_punctuation

WORD, SPACE, ALONE = 0, 1, 2
MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


@dataclasses.dataclass(frozen=True)
class Runs:
    """``values[i]`` holds for code points ``starts[i] <= cp < starts[i + 1]``; ``starts[0] == 0``."""

    starts: tuple[int, ...]
    values: tuple[int, ...]

    def lookup(self, cp: int) -> int:
        """The value for ``cp`` (a binary search, as the graph does it).

        >>> Runs((0, 10, 20), (5, 6, 7)).lookup(15)
        6
        """
        lo, hi = 0, len(self.starts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.starts[mid] <= cp:
                lo = mid
            else:
                hi = mid
        return self.values[lo]


def run_length(value_of: Callable[[int], int]) -> Runs:
    """Run-length encode ``value_of(cp)`` over every code point (surrogates take their neighbour's run)."""
    starts: list[int] = []
    values: list[int] = []
    for cp in range(MAX_CODE_POINT + 1):
        if cp in _SURROGATES:
            continue  # never in a decoded UTF-8 string
        v = value_of(cp)
        if not values or values[-1] != v:
            starts.append(cp)
            values.append(v)
    starts[0] = 0
    return Runs(tuple(starts), tuple(values))


def split_class(cp: int) -> int:
    """The class :func:`tfner.data.words.split_words` gives the character ``chr(cp)``.

    >>> [split_class(ord(c)) for c in "a ,中"] == [WORD, SPACE, ALONE, ALONE]
    True
    """
    ch = chr(cp)
    if ch.isspace():
        return SPACE
    if _is_punctuation(ch) or _is_cjk(ch):
        return ALONE
    return WORD


@functools.cache
def split_table() -> Runs:
    return run_length(split_class)


@dataclasses.dataclass(frozen=True)
class NormalizerTable:
    """What a tokenizer's normaliser does to single code points inside a word.

    ``dropped`` marks code points that vanish (value 1); ``mapped`` gives, in code-point
    order, those that become another non-empty string. All others stay as they are.
    """

    dropped: Runs
    mapped_keys: tuple[int, ...]
    mapped_values: tuple[str, ...]

    def normalize(self, word: str) -> str:
        """Normalise ``word`` character by character, as the graph does."""
        mapped = dict(zip(self.mapped_keys, self.mapped_values, strict=True))
        out = []
        for ch in word:
            cp = ord(ch)
            if 0xD800 <= cp < 0xE000 or self.dropped.lookup(cp):
                continue
            out.append(mapped.get(cp, ch))
        return "".join(out)


def normalizer_table(tokenizer) -> NormalizerTable:
    """Read the per-character behaviour of ``tokenizer``'s normaliser (a transformers fast tokenizer).

    Whitespace characters are left out (they separate words and never reach the normaliser
    inside one); so is the padding BERT's normaliser puts around CJK ideographs (each is a
    word of its own already). A tokenizer without a normaliser changes nothing.
    """
    normalizer = tokenizer.backend_tokenizer.normalizer
    if normalizer is None:
        return NormalizerTable(Runs((0,), (0,)), (), ())
    # A normaliser's repr spells out its whole configuration (e.g. BertNormalizer(clean_text=True,
    # ..., lowercase=True)), so equal reprs behave alike and share one table (~3 s to build).
    key = repr(normalizer)
    if key not in _NORMALIZER_TABLES:
        _NORMALIZER_TABLES[key] = _read_normalizer(normalizer)
    return _NORMALIZER_TABLES[key]


_NORMALIZER_TABLES: dict[str, NormalizerTable] = {}


def _read_normalizer(normalizer) -> NormalizerTable:
    keys: list[int] = []
    values: list[str] = []
    dropped: set[int] = set()
    for cp in range(MAX_CODE_POINT + 1):
        if cp in _SURROGATES:
            continue
        ch = chr(cp)
        if ch.isspace():
            continue
        out = normalizer.normalize_str(ch)
        if _is_cjk(ch):
            out = out.strip()
        if out == ch:
            continue
        if out == "":
            dropped.add(cp)
        else:
            keys.append(cp)
            values.append(out)
    return NormalizerTable(run_length(lambda cp: int(cp in dropped)), tuple(keys), tuple(values))
