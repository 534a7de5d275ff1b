"""tf.data: exact step counts (they drive the LR schedule), per-batch padding, nothing lost."""

from __future__ import annotations

import collections
import random

import numpy as np
import pytest

from tfner.data.alignment import IGNORE, Window
from tfner.data.pipeline import default_buckets, make_dataset, pad_batch, steps_per_epoch, token_batch_sizes


def windows(n: int, seed: int) -> list[Window]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        length = rng.randint(3, 60)
        ids = np.array([k + 1000] + [rng.randint(5, 99) for _ in range(length - 1)], np.int32)  # first id names the window
        labels = np.array([IGNORE] + [rng.randint(0, 4) for _ in range(length - 2)] + [IGNORE], np.int32)
        out.append(Window(sentence=k, input_ids=ids, labels=labels, word_index=np.full(length, -1, np.int32)))
    return out


@pytest.mark.parametrize("seed, n, batch", [(0, 1, 4), (1, 57, 8), (2, 200, 16), (3, 33, 64), (4, 200, (9, 7, 5, 3)),
                                            (5, 61, (1, 2, 3, 40))])
def test_steps_per_epoch_matches_the_batches_the_dataset_yields(seed, n, batch):
    wins = windows(n, seed)
    buckets = (8, 16, 32)
    sizes = (batch,) * 4 if isinstance(batch, int) else batch  # one for all buckets, or one per bucket
    ds = make_dataset(wins, batch_size=batch, boundaries=buckets, pad_id=0, shuffle=True, seed=seed)
    per_bucket = collections.Counter(int(np.searchsorted(buckets, w.length, side="right")) for w in wins)
    for _ in range(2):  # two epochs: reshuffled, still the same count
        batches = list(ds.as_numpy_iterator())
        assert len(batches) == steps_per_epoch(wins, batch, buckets)
        assert len(batches) == sum(-(-k // sizes[b]) for b, k in per_bucket.items())  # each bucket flushes its rest
        seen = collections.Counter()
        for x, y in batches:
            ids, mask = x["input_ids"], x["attention_mask"]
            bucket = int(np.searchsorted(buckets, mask.sum(axis=1).max(), side="right"))
            assert ids.shape == mask.shape == y.shape and ids.shape[0] <= sizes[bucket]
            lengths = mask.sum(axis=1)
            assert ids.shape[1] == lengths.max()  # padded to the longest window of the batch, no more
            for row, length in zip(range(ids.shape[0]), lengths, strict=True):
                w = wins[int(ids[row, 0]) - 1000]
                seen[w.sentence] += 1
                np.testing.assert_array_equal(ids[row, :length], w.input_ids)
                np.testing.assert_array_equal(y[row, :length], w.labels)
                assert (ids[row, length:] == 0).all() and (y[row, length:] == IGNORE).all()
        assert seen == collections.Counter(range(n))  # every window exactly once per epoch


def test_bucketing_groups_similar_lengths():
    wins = windows(300, 7)
    ds = make_dataset(wins, batch_size=16, boundaries=(16, 32), pad_id=0, shuffle=True, seed=0)
    for x, _ in ds.as_numpy_iterator():
        lengths = x["attention_mask"].sum(axis=1)
        bucket = np.searchsorted([16, 32], lengths, side="right")
        assert len(set(bucket.tolist())) == 1


def test_packed_batches_hold_about_the_positions_of_full_windows():
    # buckets of at most 32, 64, 96, 128: 4 full windows of 128 are 512 positions; 512 // upper, never below 4
    assert token_batch_sizes(4, (32, 64, 96), 128) == (16, 8, 5, 4)
    assert token_batch_sizes(4, (), 128) == (4,)  # no bucketing: one bucket of full-length batches
    assert token_batch_sizes(3, (200,), 256) == (3, 3)  # 768 // 200 = 3


def test_one_batch_size_per_bucket_or_a_clear_error():
    with pytest.raises(ValueError, match="3 positive batch sizes"):
        make_dataset(windows(4, 0), batch_size=(4, 4), boundaries=(8, 16), pad_id=0, shuffle=False, seed=0)


def test_default_buckets_and_pad_batch():
    assert default_buckets(128) == (16, 32, 64)
    assert default_buckets(16) == ()
    assert default_buckets(128, packed=True) == (16, 32, 48, 64, 80, 96, 112)
    assert default_buckets(32, packed=True) == (8, 16, 24)
    wins = windows(3, 0)
    batch = pad_batch(wins, pad_id=0)
    assert batch["input_ids"].dtype == np.int32 and batch["attention_mask"].dtype == np.int32
    assert batch["attention_mask"].sum(axis=1).tolist() == [w.length for w in wins]
