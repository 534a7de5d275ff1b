"""A fit whose final save fails keeps its backup: the rerun trains nothing and only saves (issue 21, defect 3)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.training import backup

# min_delta 1.0: no epoch can rise that far above the first, so epoch 1 is the best and restore_best
# must bring it back at the end, also in a rerun that trains no step
OPTIONS = {**TINY_OPTIONS, "epochs": 2, "min_delta": 1.0, "restore_best": True}
STEPS = 4  # 32 sentences, batches of 8


def by_name(model: tf.keras.Model) -> dict[str, np.ndarray]:
    prefix = f"{model.name}/"
    return {v.name[len(prefix):] if v.name.startswith(prefix) else v.name: v.numpy() for v in model.weights}


class CountSteps(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def test_a_rerun_after_a_failed_final_save_only_saves(tiny_encoder, tmp_path, monkeypatch):
    final: dict[str, np.ndarray] = {}

    def full_disk(build, target):  # build is the tagger's save: its model holds the weights to save
        final.update(by_name(build.__self__.model_))
        raise OSError("disk full")

    monkeypatch.setattr(backup, "replace_dir", full_disk)
    first = CountSteps()
    with pytest.raises(OSError, match="disk full"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[first], **OPTIONS)
    assert first.steps == 2 * STEPS and final
    assert (tmp_path / backup.BACKUP).is_dir() and not (tmp_path / backup.TAGGER).exists()
    monkeypatch.undo()

    rerun = CountSteps()
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[rerun], **OPTIONS)
    assert rerun.steps == 0  # nothing trained again
    assert int(tagger.model_.optimizer.iterations.numpy()) == 2 * STEPS
    assert tagger.train_stats_["resumed_at_step"] == 2 * STEPS
    assert tagger.best_epoch_ == 0 and len(tagger.dev_evaluations_) == 2 and len(tagger.history_["loss"]) == 2
    got = by_name(tagger.model_)
    assert got.keys() == final.keys()
    for name, value in final.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    assert (tmp_path / backup.TAGGER).is_dir() and not (tmp_path / backup.BACKUP).exists()
    reloaded = tfner.load(tmp_path / backup.TAGGER, verbose=0)
    assert reloaded.predict(["Alice flew to Paris"]) == tagger.predict(["Alice flew to Paris"])


def test_a_rerun_after_early_stopping_and_a_failed_save_trains_no_further_epoch(tiny_encoder, tmp_path, monkeypatch):
    # needs the fit to pass epochs=dev_eval.stopped_epoch + 1 to model.fit after a resume
    options = {**OPTIONS, "epochs": 3, "patience": 1}  # epoch 2 does not rise 1.0 above epoch 1: stop after it

    def full_disk(build, target):
        raise OSError("disk full")

    monkeypatch.setattr(backup, "replace_dir", full_disk)
    first = CountSteps()
    with pytest.raises(OSError, match="disk full"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[first], **options)
    assert first.steps == 2 * STEPS
    monkeypatch.undo()
    rerun = CountSteps()
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[rerun], **options)
    assert rerun.steps == 0 and int(tagger.model_.optimizer.iterations.numpy()) == 2 * STEPS
    assert tagger.stopped_epoch_ == 1 and len(tagger.dev_evaluations_) == 2


class StopAfterFirstEpoch(tf.keras.callbacks.Callback):
    """A user's callback that ends training (as Keras' EarlyStopping or TerminateOnNaN do) at the first epoch's end."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def test_a_rerun_after_a_users_callback_stopped_and_the_save_failed_trains_no_further_epoch(tiny_encoder, tmp_path,
                                                                                            monkeypatch):
    options = {**OPTIONS, "epochs": 3}

    def full_disk(build, target):
        raise OSError("disk full")

    monkeypatch.setattr(backup, "replace_dir", full_disk)
    first = CountSteps()
    with pytest.raises(OSError, match="disk full"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path,
                  callbacks=[first, StopAfterFirstEpoch()], **options)
    assert first.steps == STEPS  # stopped after epoch 1 of 3
    monkeypatch.undo()
    rerun = CountSteps()
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path,
                       callbacks=[rerun, StopAfterFirstEpoch()], **options)
    assert rerun.steps == 0 and int(tagger.model_.optimizer.iterations.numpy()) == STEPS
    assert len(tagger.dev_evaluations_) == 1 and len(tagger.history_["loss"]) == 1
    assert (tmp_path / backup.TAGGER).is_dir() and not (tmp_path / backup.BACKUP).exists()
