"""tfner.tagging.fit_run: a backup resumes only the run it belongs to."""

from __future__ import annotations

import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN


class CrashInSecondEpoch(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            raise RuntimeError("crash")


def test_a_backup_is_not_resumed_with_other_training_data(tiny_encoder, tmp_path):
    options = {**TINY_OPTIONS, "epochs": 2}
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[CrashInSecondEpoch()], **options)
    assert (tmp_path / "backup").is_dir()
    # the data fixed after the crash: the same labels, sentences and steps per epoch, one word changed
    fixed = [(["Carol" if w == "Alice" else w for w in words], tags) for words, tags in TRAIN]
    with pytest.raises(tfner.ConfigError, match=r"different run \(other data\)"):
        tfner.fit(fixed, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    # the same data resumes (the refusal named what differs and changed nothing)
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    assert tagger.train_stats_["resumed_at_step"] == 4 + 1  # epoch 1 and the step of epoch 2 before the crash
