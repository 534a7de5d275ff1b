"""Crash-safe training: a backup resumes only its own run (killed runs resuming identically:
tests/training/test_resume_dropout.py)."""

from __future__ import annotations

import pytest


def test_resuming_a_different_run_is_refused(tiny_encoder, tmp_path):
    import tensorflow as tf

    import tfner
    from tests.conftest import DEV, TINY_OPTIONS, TRAIN

    class Crash(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise RuntimeError("crash")

    options = {**TINY_OPTIONS, "epochs": 2}
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[Crash()], **options)
    assert (tmp_path / "backup").is_dir()
    with pytest.raises(tfner.ConfigError, match="different run"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path,
                  **{**options, "learning_rate": 1e-3})


def test_replacing_a_folder_steps_over_an_earlier_crashs_leftovers(tmp_path):
    import os

    from tfner.training import backup

    target = tmp_path / "tagger"
    target.mkdir()
    (target / "old.txt").write_text("old")
    # what a crash between the two renames left behind, under this very process id
    leftover = tmp_path / f".tagger-old-{os.getpid()}"
    leftover.mkdir()
    (leftover / "older.txt").write_text("older")

    backup.replace_dir(lambda tmp: (tmp / "new.txt").write_text("new"), target)
    assert os.listdir(target) == ["new.txt"] and (target / "new.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == sorted(["tagger", leftover.name])  # the leftover untouched, nothing else
