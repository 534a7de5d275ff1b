"""Crash-safe training: a run killed with SIGKILL mid-epoch resumes and ends like an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_python

RUN = r"""
import json, os
import numpy as np
import tfner
from pathlib import Path
from transformers import BertConfig
from tests.conftest import DEV, TRAIN, TINY_OPTIONS, write_tiny_encoder
from tests.killing import KillInSecondEpoch as Kill

enc = write_tiny_encoder(Path(os.environ["TINY_DIR"]))
config = BertConfig.from_pretrained(enc)  # no dropout: the runs must agree to float precision
config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
config.save_pretrained(enc)

t = tfner.fit(TRAIN, DEV, encoder=str(enc), verbose=0, output_dir=os.environ["OUT"], backup_every=1,
              callbacks=[Kill()] if os.environ.get("KILL") else [],
              **dict(TINY_OPTIONS, epochs=3, restore_best=False, **json.loads(os.environ.get("OPTIONS", "{}"))))
print(json.dumps(dict(
    iterations=int(t.model_.optimizer.iterations.numpy()), resumed=t.train_stats_["resumed_at_step"],
    weights={v.name.split("/", 1)[1]: float(np.abs(v.numpy()).sum()) for v in t.model_.trainable_variables},
    f1=t.history_["val_entity_f1"], loss=t.history_["loss"], lr=t.history_["learning_rate"],
    evaluations=len(t.dev_evaluations_), files=sorted(os.listdir(os.environ["OUT"])))))
"""


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"batch_size": 4, "accumulate_steps": 2}], ids=["plain", "accumulating"])
def test_a_run_killed_mid_epoch_resumes_and_ends_like_an_uninterrupted_one(tmp_path, options):
    # accumulating: 8 batches of 4 per epoch, 2 per update: 4 updates per epoch, as plain's 4 batches of 8
    env = {"TINY_DIR": str(tmp_path / "enc"), "OPTIONS": json.dumps(options)}
    killed_dir, plain_dir = tmp_path / "killed", tmp_path / "plain"
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **env,
                "OUT": str(killed_dir), "KILL": "1"}
    crash = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=full_env, cwd=REPO,
                           timeout=600)
    assert crash.returncode == -signal.SIGKILL, crash.stderr[-3000:]
    assert (killed_dir / "backup").is_dir() and not (killed_dir / "tagger").exists()
    resumed = json.loads(run_python(RUN, env={**env, "OUT": str(killed_dir)}).stdout.strip().splitlines()[-1])
    plain = json.loads(run_python(RUN, env={**env, "OUT": str(plain_dir)}).stdout.strip().splitlines()[-1])
    steps = 4  # optimizer updates per epoch
    assert plain["resumed"] == 0 and resumed["resumed"] == steps + 2  # epoch 1 and two steps of epoch 2
    assert resumed["iterations"] == plain["iterations"] == 3 * steps  # no step run twice, none lost
    assert resumed["evaluations"] == 3 and len(resumed["f1"]) == 3  # no epoch counted twice
    assert resumed["lr"] == pytest.approx(plain["lr"])  # the schedule continued where it was
    assert resumed["f1"] == pytest.approx(plain["f1"], abs=1e-6)
    assert resumed["loss"][0] == pytest.approx(plain["loss"][0], rel=1e-6)  # epoch 1 logs kept from the first process
    assert resumed["weights"].keys() == plain["weights"].keys()
    for name, value in plain["weights"].items():
        assert resumed["weights"][name] == pytest.approx(value, rel=1e-5), name
    assert "tagger" in resumed["files"] and "backup" not in resumed["files"]  # finished: saved, backup gone


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
