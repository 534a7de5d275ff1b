"""Masked-language-model inputs: BERT's 15% masking with the 80/10/10 rule, token- or whole-word.

A position is *eligible* when it holds a real sub-token of a word (``word_ids >= 0``): special
tokens ([CLS], [SEP]) and padding are never chosen. Each eligible token (``whole_word=False``)
or each word, all its pieces together (``whole_word=True``), is chosen with probability
``rate``; a chosen token becomes the mask token with probability 0.8, a random vocabulary
token with 0.1, and stays itself with 0.1. Labels hold the original id at chosen positions and
``IGNORE`` everywhere else, so the loss is :class:`tfner.modeling.loss.MaskedTokenLoss`'s.

>>> import numpy as np
>>> ids = np.array([[101, 7, 8, 9, 102, 0]])
>>> words = np.array([[-1, 0, 0, 1, -1, -1]])   # "7 8" is one word, "9" another
>>> x, y = mask_tokens(ids, words, np.random.default_rng(0), mask_id=103, vocab_size=200, rate=1.0,
...                    whole_word=True)
>>> (y[0] != IGNORE).tolist()                    # every piece of every word, no special token, no padding
[False, True, True, True, False, False]
"""

from __future__ import annotations

import numpy as np

from tfner.data.alignment import IGNORE

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen tokens; the rest stays unchanged


def mask_tokens(input_ids: np.ndarray, word_ids: np.ndarray, rng: np.random.Generator, *, mask_id: int,
                vocab_size: int, rate: float = 0.15, whole_word: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(masked ids, labels)`` for ``input_ids`` (any shape), ``word_ids`` of the same shape (-1: not a word).

    Word ids count within one row (sequence); a word's pieces share its id. Never changes
    ``input_ids``. ``rng`` draws everything, so the same generator state gives the same masks.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    input_ids, word_ids = np.asarray(input_ids), np.asarray(word_ids)
    if input_ids.shape != word_ids.shape:
        raise ValueError(f"input_ids {input_ids.shape} and word_ids {word_ids.shape} differ in shape")
    eligible = word_ids >= 0
    if whole_word:
        rows = input_ids.reshape(-1, input_ids.shape[-1]) if input_ids.ndim else input_ids.reshape(1, 1)
        words = word_ids.reshape(rows.shape)
        top = int(words.max()) + 1 if words.size and words.max() >= 0 else 0
        picked = rng.random((rows.shape[0], max(top, 1))) < rate  # one draw per (row, word)
        chosen = np.where(words >= 0, np.take_along_axis(picked, np.maximum(words, 0), axis=1), False)
        chosen = chosen.reshape(input_ids.shape)
    else:
        chosen = eligible & (rng.random(input_ids.shape) < rate)
    action = rng.random(input_ids.shape)
    masked = input_ids.copy()
    masked[chosen & (action < MASK_SHARE)] = mask_id
    swap = chosen & (action >= MASK_SHARE) & (action < MASK_SHARE + RANDOM_SHARE)
    masked[swap] = rng.integers(0, vocab_size, size=int(swap.sum()))
    labels = np.where(chosen, input_ids, IGNORE).astype(np.int32)
    return masked.astype(input_ids.dtype), labels
