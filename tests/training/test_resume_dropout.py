"""With dropout on (every real encoder: 0.1), a resumed run ends with the weights of an uninterrupted one
(issue 21, defect 4): the dropout masks continue from the backup instead of restarting from the seed.

The tiny encoder keeps BertConfig's default dropout (0.1 hidden, 0.1 attention). Crashes inside
the test process (an exception) cover every head and the pre-training loop cheaply: the resumed
run builds a new model, as a new process would; one SIGKILL case per backup mechanism (fit's
BackupAndRestore, pretrain's checkpoint) shows it across processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import REPO, TINY_OPTIONS, TRAIN, run_python, write_tiny_encoder
from tests.killing import CrashInSecondEpoch

CASES = {"softmax": {}, "crf": {"head": "crf"}, "accumulate": {"batch_size": 4, "accumulate_steps": 2}}
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
    from transformers import BertConfig, TFBertForMaskedLM

    write_tiny_encoder(path)
    config = BertConfig.from_pretrained(path)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
    model = TFBertForMaskedLM(config)
    model(model.dummy_inputs)
    model.save_pretrained(path)
    return str(path)


def train(case: str, encoder: str, out: Path, callbacks=()) -> dict[str, np.ndarray]:
    """Two epochs of ``case`` with a backup after every step; the final weights by name."""
    final = FinalWeights()
    if case == "pretrain":
        tfner.pretrain(TEXTS, out, encoder=encoder, held_out=0.25, epochs=2, batch_size=6, learning_rate=5e-3,
                       warmup_ratio=0.0, max_length=32, verbose=0, seed=0, backup_every=1,
                       callbacks=[*callbacks, final])
    else:
        tfner.fit(TRAIN, encoder=encoder, verbose=0, output_dir=out, backup_every=1, callbacks=[*callbacks, final],
                  **{**TINY_OPTIONS, "epochs": 2, **CASES[case]})
    return final.values


def assert_same_weights(resumed: dict[str, np.ndarray], plain: dict[str, np.ndarray]) -> None:
    assert resumed.keys() == plain.keys()
    for name, value in plain.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    return encoder_with_weights(tmp_path_factory.mktemp("tiny_dropout"))


@pytest.mark.parametrize("case", [*CASES, "pretrain"])
def test_a_crashed_run_resumes_to_the_weights_of_an_uninterrupted_one(case, encoder, tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        train(case, encoder, tmp_path / "crashed", [CrashInSecondEpoch()])
    assert (tmp_path / "crashed" / "backup").is_dir()
    resumed = train(case, encoder, tmp_path / "crashed")
    assert not (tmp_path / "crashed" / "backup").exists()  # finished
    assert_same_weights(resumed, train(case, encoder, tmp_path / "plain"))


def main() -> None:
    """A subprocess of the SIGKILL test: ``KILL=<case>`` trains it and is killed in epoch 2; else every
    case of ``CASES_RUN`` is resumed and trained afresh, the weights saved as ``RESULTS/<case>-<run>.npz``."""
    from tests.killing import KillInSecondEpoch

    root = Path(os.environ["ROOT"])
    encoder = encoder_with_weights(root / "encoder") if not (root / "encoder" / "tf_model.h5").exists() \
        else str(root / "encoder")
    if os.environ.get("KILL"):
        train(os.environ["KILL"], encoder, root / os.environ["KILL"], [KillInSecondEpoch()])
        return
    for case in os.environ["CASES_RUN"].split(","):
        for run, out in (("resumed", root / case), ("plain", root / f"{case}-plain")):
            np.savez(root / f"{case}-{run}.npz", **train(case, encoder, out))


@pytest.mark.slow
def test_runs_killed_in_another_process_resume_to_the_weights_of_uninterrupted_ones(tmp_path):
    cases = ["softmax", "pretrain"]  # fit's backup (Keras BackupAndRestore) and pretrain's own checkpoint
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "ROOT": str(tmp_path)}
    for case in cases:
        killed = subprocess.run([sys.executable, "-c", "from tests.training.test_resume_dropout import main; main()"],
                                capture_output=True, text=True, env={**env, "KILL": case}, cwd=REPO, timeout=600)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert (tmp_path / case / "backup").is_dir()
    run_python("from tests.training.test_resume_dropout import main; main()",
               env={"ROOT": str(tmp_path), "CASES_RUN": ",".join(cases)})
    for case in cases:
        with np.load(tmp_path / f"{case}-resumed.npz") as resumed, np.load(tmp_path / f"{case}-plain.npz") as plain:
            assert_same_weights(dict(resumed), dict(plain))
