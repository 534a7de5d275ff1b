"""Training under MirroredStrategy on the test process' two logical CPU devices (conftest's ``two_devices``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN, write_tiny_encoder
from tests.modeling.test_decoding import SPANS_TRAIN
from tfner.data import alignment, pipeline
from tfner.data.schemes import iob2_violation
from tfner.modeling.crf_head import CrfHead, CrfLoss
from tfner.modeling.loss import MaskedTokenLoss


def mirrored_fit(strategy, enc: Path, root: Path) -> dict:
    opts = dict(TINY_OPTIONS, epochs=6)
    # 33 windows in batches of 8: the last batch has one row, so one replica gets an empty batch.
    tagger = tfner.fit(TRAIN + TRAIN[:1], DEV, encoder=str(enc), strategy=strategy, verbose=0, **opts)
    exported = tfner.load(tagger.export(root / "saved_models" / "toy"))
    texts = ["Alice flew to Paris.", "Carol met Bob in Rome"]

    # Both replicas hold a copy of every weight, kept identical by the all-reduce.
    var = tagger.model_.trainable_variables[0]
    copies = [v.numpy() for v in strategy.experimental_local_results(var)]
    devices = sorted({v.device for v in strategy.experimental_local_results(var)})

    # Both replicas compute: run the loss per replica on a batch of the training pipeline.
    l2i = {t: i for i, t in enumerate(tagger.labels_)}
    wins = alignment.encode(tagger.tokenizer_, [w for w, _ in TRAIN], [t for _, t in TRAIN], l2i, max_length=32,
                            overlap=4)
    ds = pipeline.make_dataset(wins, batch_size=8, boundaries=(16,), pad_id=0, shuffle=False, seed=0)
    x, y = next(iter(strategy.experimental_distribute_dataset(ds)))

    def per_replica(x, y):
        logits = tagger.model_(x, training=False).logits
        return MaskedTokenLoss()(y, logits), tf.reduce_sum(tf.cast(y != -100, tf.int32))

    losses, counts = strategy.run(per_replica, args=(x, y))
    return dict(
        replicas=strategy.num_replicas_in_sync, stats_replicas=tagger.train_stats_["replicas"],
        steps=tagger.train_stats_["steps_per_epoch"], iterations=int(tagger.model_.optimizer.iterations.numpy()),
        loss=tagger.history_["loss"], copies_equal=bool(np.array_equal(copies[0], copies[1])), devices=devices,
        counts=[int(c) for c in strategy.experimental_local_results(counts)],
        tags=tagger.predict_tags([["Alice", "flew", "to", "Paris"]])[0], dev_f1=tagger.history_["val_entity_f1"],
        same_export=exported.predict(texts) == tagger.predict(texts))


def crf_mirrored(strategy, enc: Path) -> dict:
    tagger = tfner.fit(SPANS_TRAIN, None, encoder=str(enc), strategy=strategy, verbose=0,
                       **dict(TINY_OPTIONS, epochs=3, head="crf"))
    head = tagger.model_.crf_head
    copies = [v.numpy() for v in strategy.experimental_local_results(head.transitions)]

    # One global batch of random scores and valid gold tags (O, B-PER, B-LOC only), some positions ignored.
    rng = np.random.default_rng(0)
    labels = rng.choice([0, 1, 3], size=(4, 6)).astype(np.int32)
    labels[rng.random((4, 6)) < 0.4] = -100
    logits = rng.normal(size=(4, 6, 5)).astype(np.float32)
    with strategy.scope():
        h = CrfHead(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    h.set_values({"labels": h.labels, "transitions": rng.normal(size=(5, 5)).tolist(),
                  "start": rng.normal(size=5).tolist(), "end": rng.normal(size=5).tolist()})
    whole = float(CrfLoss(h)(labels, logits))
    batch = next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((logits, labels)).batch(4))))
    per_replica = strategy.run(lambda lg, lb: CrfLoss(h)(lb, lg), args=batch)
    split = float(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
    tags = tagger.predict_tags([w for w, _ in SPANS_TRAIN[:2]] + [["Rome", "Bob", "Alice", "London"]])
    return dict(copies_equal=bool(np.array_equal(copies[0], copies[1])), moved=float(np.abs(copies[0]).max()),
                whole=whole, split=split, valid=all(iob2_violation(t) is None for t in tags))


@pytest.fixture(scope="module")
def mirrored(two_devices, tmp_path_factory) -> dict:
    """The ``softmax`` and the ``crf`` fit under the two-device strategy: what the tests check."""
    root = tmp_path_factory.mktemp("mirrored")
    enc = write_tiny_encoder(root / "enc")
    return dict(softmax=mirrored_fit(two_devices, enc, root), crf=crf_mirrored(two_devices, enc))


@pytest.mark.slow
def test_fit_under_mirrored_strategy_on_two_logical_devices(mirrored):
    r = mirrored["softmax"]
    assert r["replicas"] == 2 and r["stats_replicas"] == 2
    assert r["steps"] == 5 and r["iterations"] == 6 * 5  # the one-row batch ran, as a step like any other
    assert len(r["devices"]) == 2 and r["copies_equal"]
    assert all(c > 0 for c in r["counts"]), "each replica must get labelled tokens to compute on"
    assert r["loss"][-1] < 0.5 * r["loss"][0], f"loss did not decrease: {r['loss']}"
    assert r["tags"] == ["B-PER", "O", "O", "B-LOC"]
    assert len(r["dev_f1"]) == 6 and r["dev_f1"][-1] > 0.5  # dev scored every epoch under the strategy
    assert r["same_export"]  # an export made under MirroredStrategy predicts like the in-memory tagger


@pytest.mark.slow
def test_crf_head_under_mirrored_strategy(mirrored):
    r = mirrored["crf"]
    assert r["copies_equal"] and r["moved"] > 0  # the head's weights trained and stayed mirrored
    # a global batch split over two replicas gives the loss of the whole batch on one device
    assert r["split"] == pytest.approx(r["whole"], rel=1e-5)
    assert r["valid"]
