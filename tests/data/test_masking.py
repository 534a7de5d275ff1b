"""Masked-LM masking: BERT's 15% with 80/10/10, never special tokens or padding, whole words whole."""

from __future__ import annotations

import numpy as np
import pytest

from tfner.data.alignment import IGNORE
from tfner.data.masking import mask_tokens

MASK, VOCAB = 4, 1000


def _batch(rows=3000, length=40, seed=0):
    """Random rows: [CLS] at 0, [SEP] after the words, padding after; words of 1-3 pieces."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, VOCAB, size=(rows, length))
    words = np.full((rows, length), -1)
    for r in range(rows):
        n = rng.integers(5, length - 1)  # positions 1..n hold pieces, n is [SEP], the rest padding
        pieces = np.repeat(np.arange(length), rng.integers(1, 4, size=length))[: n - 1]
        words[r, 1:n] = pieces
        ids[r, 0], ids[r, n], ids[r, n + 1:] = 2, 3, 0
    return ids, words


def test_fifteen_percent_of_eligible_tokens_with_the_80_10_10_rule_and_nothing_else_touched():
    ids, words = _batch()
    before = ids.copy()
    x, y = mask_tokens(ids, words, np.random.default_rng(1), mask_id=MASK, vocab_size=VOCAB)
    np.testing.assert_array_equal(ids, before)  # the caller's array is not changed
    eligible, chosen = words >= 0, y != IGNORE
    assert not (chosen & ~eligible).any()  # [CLS], [SEP] and padding are never chosen
    np.testing.assert_array_equal(x[~chosen], ids[~chosen])  # what is not chosen stays itself
    np.testing.assert_array_equal(y[chosen], ids[chosen])  # labels: the original ids
    assert chosen.sum() / eligible.sum() == pytest.approx(0.15, abs=0.005)
    n = chosen.sum()
    masked = (x == MASK) & chosen
    unchanged = (x == ids) & chosen
    random = chosen & ~masked & ~unchanged
    assert masked.sum() / n == pytest.approx(0.8, abs=0.01)
    # a random replacement equals the original 1 time in VOCAB: it counts as unchanged then
    assert random.sum() / n == pytest.approx(0.1 * (1 - 1 / VOCAB), abs=0.01)
    assert unchanged.sum() / n == pytest.approx(0.1, abs=0.01)


def test_whole_word_masking_chooses_every_piece_of_a_word_or_none_and_15_percent_of_words():
    ids, words = _batch(seed=2)
    _, y = mask_tokens(ids, words, np.random.default_rng(3), mask_id=MASK, vocab_size=VOCAB, whole_word=True)
    chosen_words = total_words = 0
    for r in range(ids.shape[0]):
        for w in np.unique(words[r][words[r] >= 0]):
            picked = y[r, words[r] == w] != IGNORE
            assert picked.all() or not picked.any(), (r, w)
            chosen_words += bool(picked.all())
            total_words += 1
    assert chosen_words / total_words == pytest.approx(0.15, abs=0.01)
    assert not ((y != IGNORE) & (words < 0)).any()


def test_the_same_generator_state_gives_the_same_masks_and_a_bad_rate_is_refused():
    ids, words = _batch(rows=50)
    a = mask_tokens(ids, words, np.random.default_rng(7), mask_id=MASK, vocab_size=VOCAB)
    b = mask_tokens(ids, words, np.random.default_rng(7), mask_id=MASK, vocab_size=VOCAB)
    c = mask_tokens(ids, words, np.random.default_rng(8), mask_id=MASK, vocab_size=VOCAB)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError, match="rate"):
        mask_tokens(ids, words, np.random.default_rng(0), mask_id=MASK, vocab_size=VOCAB, rate=1.5)
