"""The console of a default fit: tfner's lines, not the libraries' start-up noise (tfner.logs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

FIT = r"""
import tfner
from tests.conftest import DEV, TRAIN
tagger = tfner.fit(TRAIN[:8], DEV, epochs=1, batch_size=8, max_length=32, window_overlap=4, learning_rate=1e-3)
tfner.load(tagger.save(__import__("sys").argv[1]))
"""
NOISE = ("cuInit", "cuda_platform", "TensorFlow and JAX classes are deprecated", "newly initialized",
         "were not initialized", "were not used", "oneDNN supports", "Memory patch applied", "E0000", "W0000")


def _console(tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFNER_LIBRARY_LOGS")}
    out = subprocess.run([sys.executable, "-c", FIT, str(tmp_path / "saved")], capture_output=True, text=True,
                         cwd=REPO, env={**full, "PYTHONPATH": str(REPO), **env}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return (out.stdout + out.stderr).splitlines()


@pytest.mark.slow
def test_a_default_fit_shows_tfners_lines_and_not_the_libraries(tmp_path):
    lines = _console(tmp_path)
    assert not [line for line in lines if any(n in line for n in NOISE)]
    text = "\n".join(lines)
    for expected in ("encoder: all-MiniLM-L6-v2 (pre-trained)", "train: 8 sentences", "precision: float32",
                     "Epoch 1/1", "epoch 1: dev entity F1",
                     "recipe: batch 8 (as asked), learning rate 0.001 (as asked), crf head (the default); 1 epoch as asked "
                     "(1 update); dev: 4 sentences given"):
        assert expected in text
    assert "val_loss" not in text  # Keras' own epoch line (which repeated every value) is off
    # nothing is left besides tfner's lines: not even what TensorFlow prints while its libraries load
    # (tfner.logs hides those by name; the switch that shows them: tests/test_quiet_start.py)
    ours = re.compile(r"^(encoder|train|precision|recipe|Epoch|epoch|restoring|\d+/\d+ \[)")
    assert all(ours.match(line) for line in lines if line.strip()), lines
