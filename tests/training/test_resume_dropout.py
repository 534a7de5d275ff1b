"""Crash-safe training: a run killed mid-epoch, then run again, ends as an uninterrupted one.

Dropout stays on (every real encoder has it: 0.1 here, BertConfig's default): its masks continue
from the backup instead of restarting from the seed (issue 21, defect 4). One case per route a
backup takes: ``fit`` with the softmax head, the CRF head and ``accumulate_steps`` (Keras'
BackupAndRestore), and ``pretrain`` (its own checkpoint). The softmax case dies by SIGKILL in its
own process (no ``finally``, no flush: the real thing); the others crash with an exception in the
test's process at the same step, before the same backup (each SIGKILL paid TensorFlow's start-up
again, and what they check is the backup's content: the dropout generators are built from the
seed by every fit, so a missing restore fails in either process). The test's process then resumes
every case and runs it uninterrupted.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import DEV, REPO, TINY_OPTIONS, TRAIN, write_pretrained_tiny_encoder
from tests.killing import CrashInSecondEpoch

FIT_CASES = {"softmax": {}, "crf": {"head": "crf"}, "accumulate": {"batch_size": 4, "accumulate_steps": 2}}
CASES = [*FIT_CASES, "pretrain"]
KILLED = "softmax"  # the case killed by SIGKILL in a process of its own
STEPS = 4  # optimizer updates per epoch in every fit case (accumulate: 8 batches of 4, 2 per update)
TEXTS = ["alice flew to paris and bob went to london .", "carol met bob in rome !",
         "alice and carol went to rome .", "bob flew to paris !"] * 6  # 18 windows to train on: 3 steps


class FinalWeights(tf.keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.values = by_name(self.model)


def by_name(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """The model's weights by name, without metrics' running sums (accumulate_steps' loss tracker is
    among model.weights; a resumed epoch's mean restarts with the process, as Keras' own loss display)."""
    prefix = f"{model.name}/"
    metric_variables = {id(v) for metric in model.metrics for v in metric.variables}
    return {v.name[len(prefix):] if v.name.startswith(prefix) else v.name: v.numpy() for v in model.weights
            if id(v) not in metric_variables}


def encoder_with_weights(path: Path) -> str:
    """The tiny encoder (dropout 0.1) with random weights saved, so pretrain can load it."""
    from transformers import BertConfig

    write_pretrained_tiny_encoder(path)
    config = BertConfig.from_pretrained(path)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
    return str(path)


def train(case: str, encoder: str, out: Path, callbacks=()) -> tuple[dict[str, np.ndarray], dict]:
    """Three epochs of ``case`` with a backup after every step: the final weights by name, and what
    the run reports (History, steps, files, console)."""
    final = FinalWeights()
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        if case == "pretrain":
            result = tfner.pretrain(TEXTS, out, encoder=encoder, held_out=0.25, epochs=3, batch_size=6,
                                    learning_rate=5e-3, warmup_ratio=0.5, max_length=32, verbose=1, seed=0,
                                    backup_every=1, callbacks=[*callbacks, final])
            report = {"epochs": result.epochs}
        else:
            t = tfner.fit(TRAIN, DEV, encoder=encoder, verbose=0, output_dir=out, backup_every=1,
                          callbacks=[*callbacks, final],
                          **{**TINY_OPTIONS, "epochs": 3, "restore_best": False, **FIT_CASES[case]})
            report = {"iterations": int(t.model_.optimizer.iterations.numpy()),
                      "resumed": t.train_stats_["resumed_at_step"], "f1": t.history_["val_entity_f1"],
                      "loss": t.history_["loss"], "lr": t.history_["learning_rate"],
                      "evaluations": len(t.dev_evaluations_)}
    return final.values, {**report, "files": sorted(os.listdir(out)), "console": console.getvalue()}


def main() -> None:
    """A subprocess of the test: ``KILL=<case>`` trains it into ``ROOT/<case>`` on ``ROOT/encoder`` and is
    killed in epoch 2 after its third step."""
    from tests.killing import KillInSecondEpoch

    root, case = Path(os.environ["ROOT"]), os.environ["KILL"]
    train(case, str(root / "encoder"), root / case, [KillInSecondEpoch()])


@pytest.mark.slow
def test_runs_killed_mid_epoch_resume_to_the_weights_of_uninterrupted_ones(tmp_path):
    encoder = encoder_with_weights(tmp_path / "encoder")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "ROOT": str(tmp_path)}
    for case in CASES:
        if case == KILLED:
            killed = subprocess.run([sys.executable, "-c", "from tests.training.test_resume_dropout import main; main()"],
                                    capture_output=True, text=True, env={**env, "KILL": case}, cwd=REPO, timeout=600)
            assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        else:
            with pytest.raises(RuntimeError, match="crash"):
                train(case, encoder, tmp_path / case, [CrashInSecondEpoch(batch=2)])
        assert (tmp_path / case / "backup").is_dir() and not (tmp_path / case / "tagger").exists()
    progress = (tmp_path / "pretrain" / "backup" / "progress.json").read_text(encoding="utf-8")
    assert '"epoch": 1' in progress and '"step": 2' in progress  # epoch 2's second step: the last backed up
    for case in CASES:  # resumed here, in a process that did not train them
        resumed, r = train(case, encoder, tmp_path / case)
        plain, p = train(case, encoder, tmp_path / f"{case}-plain")
        assert resumed.keys() == plain.keys(), case
        for name, value in plain.items():  # the same masks, data order and schedule: the same weights
            np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-7, err_msg=f"{case}: {name}")
        if case == "pretrain":
            assert "resuming from" in r["console"] and "epoch 2, 2 of" in r["console"]
            assert len(r["epochs"]) == len(p["epochs"]) == 3  # no epoch lost or counted twice
            assert r["epochs"][0]["loss"] == pytest.approx(p["epochs"][0]["loss"], rel=1e-6)  # kept from process 1
            for a, b in zip(r["epochs"], p["epochs"], strict=True):
                assert a["held_out_loss"] == pytest.approx(b["held_out_loss"], rel=1e-6)
            assert "backup" not in r["files"] and "pretraining.json" in r["files"]
            continue
        assert p["resumed"] == 0 and r["resumed"] == STEPS + 2, case  # epoch 1 and two steps of epoch 2
        assert r["iterations"] == p["iterations"] == 3 * STEPS, case  # no step run twice, none lost
        assert r["evaluations"] == 3 and len(r["f1"]) == 3, case  # no epoch counted twice
        assert r["lr"] == pytest.approx(p["lr"]), case  # the schedule continued where it was
        assert r["f1"] == pytest.approx(p["f1"], abs=1e-6), case
        assert r["loss"][0] == pytest.approx(p["loss"][0], rel=1e-6), case  # epoch 1 logs kept from process 1
        assert "tagger" in r["files"] and "backup" not in r["files"], case  # finished: saved, backup gone
