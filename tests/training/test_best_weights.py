"""restore_best puts the best epoch's weights back by name, also when layers were frozen then (issue 21, defect 2).

Keras lists trainable weights before non-trainable ones, so ``get_weights()`` taken while the
encoder was frozen has another order than the model it is restored into.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tests.killing import CrashInSecondEpoch
from tfner.training import backup
from tfner.training.callbacks import DevEvaluation, FreezeEncoder


class Scores:
    """Stands in for an Evaluation: the callback reads only these attributes."""

    def __init__(self, f1: float):
        self.f1 = self.precision = self.recall = f1

    def per_type_f1(self):
        return {"PER": self.f1}


def by_name(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """Every weight's value by its name inside the model (a second model in the process is called ``..._1``)."""
    prefix = f"{model.name}/"
    return {v.name[len(prefix):] if v.name.startswith(prefix) else v.name: v.numpy() for v in model.weights}


class RecordWeights(tf.keras.callbacks.Callback):
    """Every weight by name at each epoch's end."""

    def __init__(self):
        super().__init__()
        self.per_epoch: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append(by_name(self.model))


class Stack(tf.keras.layers.Layer):
    """Two dense layers in one layer, as BERT's embeddings and transformer layers in its main layer: a
    layer (unlike a model) lists its trainable weights first, so freezing ``body`` moves its weights last."""

    def __init__(self):
        super().__init__(name="stack")
        self.body = tf.keras.layers.Dense(3, name="body")
        self.head = tf.keras.layers.Dense(1, name="head")

    def call(self, x):
        return self.head(self.body(x))


def two_layer_model() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((2,)), Stack()])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.1), loss="mse")
    model.optimizer.build(model.trainable_variables)  # slots for the body too, before it is frozen
    return model


def assert_equal_by_name(model: tf.keras.Model, want: dict[str, np.ndarray]) -> None:
    got = by_name(model)
    assert got.keys() == want.keys()
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_the_best_epoch_frozen_then_unfrozen_comes_back_by_name():
    model = two_layer_model()
    body = model.get_layer("stack").body
    freeze = FreezeEncoder(1, lambda on: setattr(body, "trainable", on))  # body frozen in epoch 1 only
    dev = DevEvaluation(lambda: Scores([0.9, 0.5, 0.4][len(dev.evaluations)]), restore_best=True, verbose=0)
    record = RecordWeights()
    x, y = np.random.default_rng(0).normal(size=(16, 2)), np.ones((16, 1))
    model.fit(x, y, epochs=3, verbose=0, callbacks=[freeze, record, dev])
    assert dev.best_epoch == 0
    assert not np.array_equal(record.per_epoch[0]["stack/body/kernel:0"], record.per_epoch[2]["stack/body/kernel:0"])
    assert_equal_by_name(model, record.per_epoch[0])


def test_dev_evaluation_state_round_trips_through_restore():
    model = two_layer_model()
    dev = DevEvaluation(lambda: Scores(0.0), restore_best=True, verbose=0)
    dev.set_model(model)
    best = by_name(model)
    dev.restore([Scores(0.3), Scores(0.7), Scores(0.6)], 1, best)
    state = dev.state()
    assert state["best_epoch"] == 1 and [e.f1 for e in state["evaluations"]] == [0.3, 0.7, 0.6]
    assert state["best_weights"].keys() == best.keys()
    model.get_layer("stack").body.trainable = False  # another order of get_weights()
    for v in model.weights:
        v.assign(tf.zeros_like(v))
    dev.on_train_end()
    for v in model.weights:
        np.testing.assert_array_equal(v.numpy(), best[v.name], err_msg=v.name)
    with pytest.raises(ValueError, match="best_epoch 3"):
        dev.restore([Scores(0.3)], 3, best)


def test_best_weights_file_is_read_back_by_name_whatever_is_frozen(tmp_path):
    from tfner.training.weights import assign_weights

    model = two_layer_model()
    saved = by_name(model)
    backup.save_weights_atomic(tmp_path / backup.BEST_WEIGHTS.format(epoch=0), model)
    model.get_layer("stack").body.trainable = False
    for v in model.weights:
        v.assign(tf.ones_like(v))
    loaded = backup.load_weights(tmp_path / backup.BEST_WEIGHTS.format(epoch=0))
    assert set(loaded) == set(saved)
    assign_weights(model, loaded)
    assert_equal_by_name(model, saved)
    with pytest.raises(ValueError, match="missing"):
        assign_weights(model, {k: v for k, v in loaded.items() if "head" not in k})


FROZEN_BEST = {**TINY_OPTIONS, "epochs": 2, "freeze_encoder_epochs": 1, "freeze_embeddings": True,
               "min_delta": 1.0, "restore_best": True}  # no later epoch can rise 1.0 above the first: the frozen epoch 1 is the best


def test_fit_ends_with_the_frozen_epochs_weights(tiny_encoder):
    record = RecordWeights()
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, callbacks=[record], **FROZEN_BEST)
    assert tagger.best_epoch_ == 0
    assert_equal_by_name(tagger.model_, record.per_epoch[0])


def test_a_resumed_fit_ends_with_the_frozen_epochs_weights_from_its_backup(tiny_encoder, tmp_path):
    record = RecordWeights()
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[record, CrashInSecondEpoch()], **FROZEN_BEST)
    assert (tmp_path / backup.BEST_WEIGHTS.format(epoch=0)).exists()
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                       **FROZEN_BEST)
    assert tagger.train_stats_["resumed_at_step"] == 4 + 1 and tagger.best_epoch_ == 0  # epoch 1, one step of 2
    assert_equal_by_name(tagger.model_, record.per_epoch[0])


def test_restore_says_when_the_restored_epochs_had_stopped_early():
    dev = DevEvaluation(lambda: Scores(0.0), restore_best=False, verbose=0, patience=2)
    dev.restore([Scores(0.3), Scores(0.7), Scores(0.6)], 1)
    assert dev.stopped_epoch is None  # one epoch without a rise: patience 2 goes on
    dev.restore([Scores(0.3), Scores(0.7), Scores(0.6), Scores(0.5)], 1)
    assert dev.stopped_epoch == 3
