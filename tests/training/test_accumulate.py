"""Gradient accumulation: k micro-batches make the update one batch of their union makes.

The reference route is the ordinary Keras step (``model.compile`` + ``train_on_batch``) on one
batch holding every row of the micro-batches; the accumulating step
(:mod:`tfner.training.accumulate`) sees the same rows split into micro-batches of different
lengths and very different labelled-token counts (so averaging per-micro-batch losses would
be wrong), with clipping active (so it must see the summed gradient).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import DEV, TINY_OPTIONS, TRAIN, write_tiny_encoder
from tfner.data.alignment import IGNORE
from tfner.modeling.crf_head import CrfHead, CrfLoss
from tfner.modeling.encoder import build_model
from tfner.modeling.loss import MaskedTokenLoss
from tfner.training import accumulate
from tfner.training.optim import WarmupLinearDecay, build_optimizer

CLIP = 0.05  # small enough that every update is clipped
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def micro_batches(seed):
    # 3 micro-batches: 3 rows x 7 tokens, 1 row x 11, 2 rows x 4; labelled counts very unequal.
    rng = np.random.default_rng(seed)
    out = []
    for rows, width, labelled in ((3, 7, 5), (1, 11, 1), (2, 4, 2)):
        ids = rng.integers(5, 40, size=(rows, width)).astype(np.int32)
        y = np.full((rows, width), IGNORE, np.int32)
        y[:, 1:1 + labelled] = rng.choice([0, 1, 3], size=(rows, labelled))  # IOB2-valid for the CRF
        out.append(({"input_ids": ids, "attention_mask": np.ones_like(ids)}, y))
    return out


def union(parts):
    width = max(p[1].shape[1] for p in parts)

    def pad(a, value):
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=value)
    x = {k: np.concatenate([pad(p[0][k], 0) for p in parts]) for k in ("input_ids", "attention_mask")}
    return x, np.concatenate([pad(p[1], IGNORE) for p in parts])


def model_and_loss(encoder, head):
    model = build_model(encoder, len(LABELS), pretrained=False, seed=7, max_length=32)
    loss = MaskedTokenLoss()
    if head == "crf":
        model.crf_head = CrfHead(LABELS)
        loss = CrfLoss(model.crf_head)
    optimizer = build_optimizer(WarmupLinearDecay(3e-3, 0, 10), weight_decay=0.01, clipnorm=CLIP)
    model.compile(optimizer=optimizer, loss=loss)
    return model, loss


def train(encoder, head, accumulating, strategy=None, updates=2):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model, loss = model_and_loss(encoder, head)
        if accumulating:
            accumulate.install(model, loss)
    shown = []
    for u in range(updates):
        parts = micro_batches(u)
        if accumulating:
            ds = tf.data.Dataset.from_generator(lambda parts=parts: iter(parts), output_signature=(
                {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")},
                tf.TensorSpec([None, None], tf.int32)))
            grouped = accumulate.group_batches(ds, len(parts), pad_id=0)
            # known cardinality: at the end of a stream of unknown length, tf-keras 2.21 counts
            # one more optimizer iteration (measured; also with its own train step)
            history = model.fit(grouped.apply(tf.data.experimental.assert_cardinality(1)), epochs=1, verbose=0)
        else:
            x, y = union(parts)
            history = model.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0)
        shown.append(history.history["loss"][0])
    weights = [v.numpy() for v in model.trainable_variables]
    return weights, shown, int(model.optimizer.iterations.numpy())


def separate_steps(encoder, head):
    # The wrong answer: one ordinary update per micro-batch.
    with tf.distribute.get_strategy().scope():
        model, _ = model_and_loss(encoder, head)
    for x, y in micro_batches(0):
        model.train_on_batch(x, y)
    return [v.numpy() for v in model.trainable_variables]


def gap(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_accumulated_update_equals_one_update_on_the_union(tmp_path, head):
    enc = str(write_tiny_encoder(tmp_path / "enc", dropout=0.0))
    reference, ref_loss, ref_steps = train(enc, head, accumulating=False)
    accumulated, acc_loss, acc_steps = train(enc, head, accumulating=True)
    assert ref_steps == acc_steps == 2  # one optimizer update per group, not per micro-batch
    assert gap(reference, accumulated) < 2e-5
    assert np.allclose(acc_loss, ref_loss, rtol=1e-5)  # the loss shown is the union's loss
    # The comparison can fail: three ordinary updates land somewhere else.
    assert gap(reference, separate_steps(enc, head)) > 1e-3


@pytest.mark.slow
def test_accumulation_on_two_replicas_equals_one_device_on_the_union(tmp_path, two_devices):
    enc = str(write_tiny_encoder(tmp_path / "enc", dropout=0.0))
    reference, ref_loss, _ = train(enc, "softmax", accumulating=False)
    accumulated, acc_loss, steps = train(enc, "softmax", accumulating=True, strategy=two_devices)
    assert steps == 2
    assert gap(reference, accumulated) < 2e-5
    assert np.allclose(acc_loss, ref_loss, rtol=1e-5)


def test_group_batches_stacks_k_batches_per_element_and_keeps_every_row():
    batches = [(np.full((2, 3), 7), np.ones((2, 3))), (np.full((1, 5), 8), np.zeros((1, 5))),
               (np.full((2, 2), 9), np.ones((2, 2)))]

    def gen():
        for ids, y in batches:
            yield {"input_ids": ids.astype(np.int32), "attention_mask": np.ones_like(ids, np.int32)}, y.astype(np.int32)

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_ids", "attention_mask")},
        tf.TensorSpec([None, None], tf.int32)))
    groups = list(accumulate.group_batches(ds, 2, pad_id=0))
    assert len(groups) == accumulate.updates_per_epoch(3, 2) == 2
    (x0, y0), (x1, y1) = groups
    assert x0["input_ids"].shape == (2, 2, 5) and x1["input_ids"].shape == (2, 1, 2)
    # micro-batch 1 of group 0: its one row, then a padding row (mask 0, labels all IGNORE)
    assert x0["input_ids"][0, 1].numpy().tolist() == [8] * 5
    assert x0["attention_mask"][1, 1].numpy().sum() == 0 and (y0[1, 1].numpy() == IGNORE).all()
    # micro-batch 0 of group 0: its rows, padded to the group's width with IGNORE
    assert y0[:, 0].numpy().tolist() == [[1, 1, 1, IGNORE, IGNORE]] * 2
    assert x1["input_ids"][:, 0].numpy().tolist() == [[9, 9], [9, 9]]


def test_fit_with_accumulation_counts_updates_and_learns(tiny_encoder):
    import tfner

    opts = dict(TINY_OPTIONS, batch_size=4, epochs=12)
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, accumulate_steps=2, **opts)
    stats = tagger.train_stats_
    assert stats["accumulate_steps"] == 2 and stats["batches_per_epoch"] == 8  # 32 windows in 4s
    assert stats["steps_per_epoch"] == 4
    assert int(tagger.model_.optimizer.iterations.numpy()) == 4 * 12 == stats["total_steps"]
    assert len(tagger.history_["loss"]) == 12 and tagger.history_["loss"][-1] < tagger.history_["loss"][0]
    assert tagger.history_["val_entity_f1"][-1] > 0.9
