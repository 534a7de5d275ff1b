"""Per-code-point tables against the rules they were read from, checked over every code point."""

from __future__ import annotations

import bisect

import numpy as np
import pytest

from tfner.data import charmap
from tfner.data.datasets import wnut17_path
from tfner.data.readers import read_conll
from tfner.data.words import _is_cjk, split_words

ALL = np.array([cp for cp in range(charmap.MAX_CODE_POINT + 1) if not 0xD800 <= cp < 0xE000], np.int64)


def lookup_all(runs: charmap.Runs) -> np.ndarray:
    """Every code point through the run table, with numpy's binary search (as the graph does)."""
    starts, values = np.asarray(runs.starts), np.asarray(runs.values)
    return values[np.searchsorted(starts, ALL, side="right") - 1]


def test_split_table_gives_every_code_point_the_class_split_words_gives_it():
    table = lookup_all(charmap.split_table())
    # second route: what split_words does with the character between two letters
    expected = np.empty_like(table)
    for i, cp in enumerate(ALL):
        parts = [w for w, _, _ in split_words("a" + chr(int(cp)) + "b")]
        expected[i] = (charmap.SPACE if parts == ["a", "b"] else charmap.WORD if len(parts) == 1
                       else charmap.ALONE)
    wrong = np.nonzero(table != expected)[0]
    assert wrong.size == 0, [hex(int(ALL[k])) for k in wrong[:10]]


def test_runs_are_sorted_and_start_at_zero():
    for runs in (charmap.split_table(),):
        assert runs.starts[0] == 0
        assert list(runs.starts) == sorted(set(runs.starts))
        assert all(a != b for a, b in zip(runs.values, runs.values[1:], strict=False))  # runs are maximal


def test_normalizer_table_matches_the_tokenizer_on_every_code_point(tiny_tokenizer):
    table = charmap.normalizer_table(tiny_tokenizer)
    normalizer = tiny_tokenizer.backend_tokenizer.normalizer
    dropped = lookup_all(table.dropped).astype(bool)
    mapped = dict(zip(table.mapped_keys, table.mapped_values, strict=True))
    for cp, drop in zip(ALL.tolist(), dropped.tolist(), strict=True):
        ch = chr(cp)
        if ch.isspace():
            continue  # separates words; never inside one
        want = normalizer.normalize_str(ch)
        if _is_cjk(ch):
            want = want.strip(" ")  # BERT pads ideographs with spaces; split_words isolates them already
        got = "" if drop else mapped.get(cp, ch)
        assert got == want, hex(cp)


@pytest.mark.parametrize("split", ["train", "dev"])
def test_normalizing_a_word_char_by_char_equals_the_tokenizer_on_wnut17(tiny_tokenizer, split):
    table = charmap.normalizer_table(tiny_tokenizer)
    normalizer = tiny_tokenizer.backend_tokenizer.normalizer
    words = sorted({w for s in read_conll(wnut17_path(split)) for w in s.words})
    differ = [w for w in words if table.normalize(w) != normalizer.normalize_str(w).strip()]
    # CJK ideographs get spaces around them from BERT's normaliser; split_words isolates them already
    assert all(any(0x4E00 <= ord(c) <= 0x9FFF for c in w) for w in differ), differ[:10]


def test_runs_lookup_is_a_binary_search():
    runs = charmap.Runs((0, 5, 9), (1, 0, 7))
    for cp in range(20):
        assert runs.lookup(cp) == runs.values[bisect.bisect_right(runs.starts, cp) - 1]


def test_no_word_character_normalises_into_one_the_pre_tokenizer_splits_at(tiny_tokenizer):
    """The Python route normalises a word, then BERT's pre-tokenizer splits it; the graph runs WordPiece on the
    normalised word whole. They agree only if no character split_words keeps inside a word becomes, once
    normalised (lower-cased, accents stripped), one the pre-tokenizer splits at: ``a≠b`` became ``a=b``."""
    assert tiny_tokenizer.backend_tokenizer.normalizer.normalize_str("É") == "e"  # uncased: accents are stripped
    backend = tiny_tokenizer.backend_tokenizer
    word = lookup_all(charmap.split_table()) == charmap.WORD
    split = []
    for cp in ALL[word].tolist():
        pieces = backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(f"a{chr(cp)}b"))
        if len(pieces) != 1:
            split.append(hex(cp))
    assert not split, split[:10]
    assert [w for w, _, _ in split_words("a≠b a\u1fefb")] == ["a", "≠", "b", "a", "\u1fef", "b"]
