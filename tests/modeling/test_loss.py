"""The masked loss: a hand computation, and the same value/step on 1 and 2 replicas (conftest's two logical CPUs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import write_tiny_encoder
from tfner.data.alignment import IGNORE
from tfner.modeling.encoder import build_model
from tfner.modeling.loss import GlobalLossDisplay, MaskedTokenLoss


def test_masked_loss_matches_hand_computation():
    logits = np.array(
        [[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]],
         [[0.0, 0.0, 3.0], [1.0, 2.0, 3.0], [9.0, -9.0, 0.0]]], np.float32)
    labels = np.array([[0, 1, IGNORE], [2, IGNORE, IGNORE]], np.int32)
    # By hand: -log softmax(logits)[label] for the three labelled positions only.
    ce1 = -math.log(math.exp(2) / (math.exp(2) + 2))
    ce2 = -math.log(math.e / (math.e + 2))
    ce3 = -math.log(math.exp(3) / (math.exp(3) + 2))
    expected = (ce1 + ce2 + ce3) / 3
    got = float(MaskedTokenLoss()(tf.constant(labels), tf.constant(logits)))
    assert abs(got - expected) < 1e-6
    # The ignored positions really are ignored: changing their logits changes nothing.
    logits2 = logits.copy()
    logits2[0, 2] = [-50, 50, 0]
    logits2[1, 1:] = 7.0
    assert float(MaskedTokenLoss()(tf.constant(labels), tf.constant(logits2))) == got


def test_all_ignored_batch_gives_zero_not_nan():
    labels = tf.fill([2, 3], IGNORE)
    assert float(MaskedTokenLoss()(labels, tf.zeros([2, 3, 4]))) == 0.0


def equal_on_one_and_two(mirrored, enc: Path) -> dict:
    rng = np.random.default_rng(0)
    # Global batch of 4 rows; replica 0 gets rows 0-1 (many labelled tokens), replica 1 rows 2-3 (few).
    ids = rng.integers(5, 40, size=(4, 10)).astype(np.int32)
    labels = rng.integers(0, 5, size=(4, 10)).astype(np.int32)
    labels[2:, 2:] = -100
    logits = rng.normal(size=(4, 10, 5)).astype(np.float32)

    one = float(MaskedTokenLoss()(labels, logits))
    ds = tf.data.Dataset.from_tensor_slices((labels, logits)).batch(4)
    dist = iter(mirrored.experimental_distribute_dataset(ds))
    per_replica = mirrored.run(lambda y, p: MaskedTokenLoss()(y, p), args=next(dist))
    two = float(mirrored.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
    local = [float(v) for v in mirrored.experimental_local_results(per_replica)]

    # One SGD step of a dropout-free tiny BERT through Keras' fit, on 1 and on 2 replicas.
    write_tiny_encoder(enc, dropout=0.0)
    train = tf.data.Dataset.from_tensor_slices(({"input_ids": ids, "attention_mask": np.ones_like(ids)}, labels)).batch(4)

    def step(strategy):
        with strategy.scope():
            model = build_model(str(enc), 5, pretrained=False, seed=3)
            model.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss=MaskedTokenLoss())
        hist = model.fit(train, epochs=1, verbose=0)
        return model.get_weights(), hist.history["loss"][0]

    w1, l1 = step(tf.distribute.get_strategy())
    w2, l2 = step(mirrored)
    w0 = build_model(str(enc), 5, pretrained=False, seed=3).get_weights()
    moved = max(float(np.abs(a - b).max()) for a, b in zip(w1, w0, strict=True))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(w1, w2, strict=True))
    return dict(one=one, two=two, local=local, l1=l1, l2=l2, moved=moved, diff=diff,
                replicas=mirrored.num_replicas_in_sync)


def uneven(mirrored, enc: Path) -> dict:
    rng = np.random.default_rng(1)
    # 5 rows in batches of 3: a 2/1 split, then a 1/1 split; replicas hold different token counts.
    ids = rng.integers(5, 40, size=(5, 10)).astype(np.int32)
    labels = rng.integers(0, 5, size=(5, 10)).astype(np.int32)
    labels[1:, 3:] = -100
    write_tiny_encoder(enc)
    data = tf.data.Dataset.from_tensor_slices(({"input_ids": ids, "attention_mask": np.ones_like(ids)}, labels)).batch(3)

    def shown(strategy, loss):
        with strategy.scope():
            model = build_model(str(enc), 5, pretrained=False, seed=3)
            model.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss=loss)
        return model.evaluate(data, verbose=0), model

    one, model = shown(tf.distribute.get_strategy(), MaskedTokenLoss())
    # by hand: the row-weighted mean of each batch's global loss (how Keras averages batches)
    batch_losses = [float(MaskedTokenLoss()(y, model(x).logits)) for x, y in data]
    by_hand = (3 * batch_losses[0] + 2 * batch_losses[1]) / 5
    two_raw, _ = shown(mirrored, MaskedTokenLoss())
    two, _ = shown(mirrored, GlobalLossDisplay(MaskedTokenLoss()))
    return dict(one=one, by_hand=by_hand, two_raw=two_raw, two=two)


@pytest.fixture(scope="module")
def two_replicas(two_devices, tmp_path_factory) -> dict:
    """``equal`` and ``uneven``'s results on the test process' two logical CPUs."""
    root = tmp_path_factory.mktemp("two_replicas")
    return dict(equal=equal_on_one_and_two(two_devices, root / "dropout-free"), uneven=uneven(two_devices, root / "tiny"))


@pytest.mark.slow
def test_loss_and_step_equal_on_one_and_two_replicas(two_replicas):
    r = two_replicas["equal"]
    assert r["replicas"] == 2
    assert abs(r["one"] - r["two"]) < 1e-5
    # Each replica divides by the *global* count, not its own: the naive mean of per-replica
    # means would differ here because the replicas hold different numbers of labelled tokens.
    assert all(v > 0 for v in r["local"])
    assert abs(sum(r["local"]) - r["one"]) < 1e-5
    # Keras' fit: same reported loss and the same SGD update (SGD shows any loss rescaling).
    assert abs(r["l1"] - r["l2"]) < 1e-4
    assert r["moved"] > 1e-3
    assert r["diff"] < 1e-5 * max(1.0, r["moved"]) * 10


@pytest.mark.slow
def test_the_shown_loss_is_the_global_loss_when_replicas_hold_unequal_rows(two_replicas):
    r = two_replicas["uneven"]
    assert r["one"] == pytest.approx(r["by_hand"], rel=1e-5)
    assert abs(r["two_raw"] - r["one"]) > 1e-3, "the premise: Keras alone misreports an uneven split"
    assert r["two"] == pytest.approx(r["one"], rel=1e-5)
