"""tfner.tagging.fit_run: a backup resumes only the run it belongs to."""

from __future__ import annotations

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tests.killing import CrashInSecondEpoch


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
