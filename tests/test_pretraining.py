"""Domain-adaptive pre-training: the masked-LM loss falls, and fit takes the encoder it saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfner
from tests.conftest import REPO, TINY_OPTIONS, TRAIN, run_python, write_tiny_encoder
from tfner.errors import DataFormatError, DataNotFoundError

TEXTS = ["alice flew to paris and bob went to london .", "carol met bob in rome !",
         "alice and carol went to rome .", "bob flew to paris !"] * 12


@pytest.fixture(scope="module")
def tiny_with_weights(tmp_path_factory) -> str:
    """The tiny encoder with (random) weights saved, as a user's local checkpoint folder."""
    from transformers import BertConfig, TFBertForMaskedLM

    path = write_tiny_encoder(tmp_path_factory.mktemp("tiny_mlm"))
    model = TFBertForMaskedLM(BertConfig.from_pretrained(path))
    model(model.dummy_inputs)
    model.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def pretrained(tiny_with_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained")
    return tfner.pretrain(TEXTS, out, encoder=tiny_with_weights, held_out=0.25, epochs=15, batch_size=8,
                          learning_rate=5e-3, warmup_ratio=0.0, max_length=32, verbose=0, seed=0)


def test_the_masked_lm_loss_falls_on_a_small_repeated_text(pretrained, tiny_tokenizer):
    rows = pretrained.epochs
    assert len(rows) == 15 and pretrained.windows + pretrained.held_out_windows == len(TEXTS)
    # random weights start near log(vocabulary size); a few epochs of a repeated text bring it far down
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"]
    # below the best context-free guess (each piece's frequency): the model uses the context
    assert rows[-1]["held_out_loss"] < _unigram_entropy(tiny_tokenizer) - 0.5
    assert rows[-1]["held_out_perplexity"] == pytest.approx(np.exp(rows[-1]["held_out_loss"]), rel=1e-6)


def test_fit_takes_the_saved_encoder_with_its_pretrained_weights(pretrained):
    from transformers import TFBertForMaskedLM

    from tfner.modeling.encoder import build_model

    saved = TFBertForMaskedLM.from_pretrained(str(pretrained.output_dir))
    model = build_model(str(pretrained.output_dir), 5, pretrained=True, seed=0)  # fit's loading route
    for a, b in zip(model.bert.weights, saved.bert.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    tagger = tfner.fit(TRAIN, encoder=str(pretrained.output_dir), verbose=0,
                       **{**TINY_OPTIONS, "pretrained": True, "epochs": 1})
    assert tagger.config_.encoder == str(pretrained.output_dir)
    assert (Path(pretrained.output_dir) / "pretraining.json").exists()


def test_long_texts_become_several_windows_and_no_token_is_dropped(tiny_tokenizer):
    from tfner.pretraining import windows_of

    text = " ".join(["alice flew to paris"] * 30)  # 120 word pieces, windows of 32 hold 30
    wins = windows_of(tiny_tokenizer, [text], 32)
    full = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(wins) == -(-len(full) // 30)
    inner = [int(t) for ids, _ in wins for t in ids[1:-1]]
    assert inner == full  # every token once, in order
    assert all(len(ids) <= 32 and (words[1:-1] >= 0).all() and words[0] == words[-1] == -1 for ids, words in wins)


def test_bad_texts_are_refused_clearly(tmp_path, tiny_with_weights):
    with pytest.raises(DataNotFoundError, match="no such file"):
        tfner.pretrain(tmp_path / "missing.txt", tmp_path / "out", encoder=tiny_with_weights, verbose=0)
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no text"):
        tfner.pretrain(tmp_path / "blank.txt", tmp_path / "out", encoder=tiny_with_weights, verbose=0)
    with pytest.raises(DataFormatError, match=r"texts\[1\]"):
        tfner.pretrain(["fine", 3], tmp_path / "out", encoder=tiny_with_weights, verbose=0)


def test_the_offline_encoder_loads_under_the_masked_lm_head_with_all_its_encoder_weights():
    from tfner.modeling.encoder import build_masked_lm, build_model

    mlm = build_masked_lm("all-MiniLM-L6-v2", seed=0)
    tagger_model = build_model("all-MiniLM-L6-v2", 3, pretrained=True, seed=0)  # a second loading route
    names = {w.name.split("/", 1)[1]: w.numpy() for w in tagger_model.bert.weights}
    for w in mlm.bert.weights:
        np.testing.assert_array_equal(w.numpy(), names[w.name.split("/", 1)[1]])


def _unigram_entropy(tokenizer) -> float:
    """Cross-entropy (nats) of the best context-free guess of a word piece in TEXTS: its frequency."""
    ids = [t for text in TEXTS for t in tokenizer(text, add_special_tokens=False)["input_ids"]]
    _, counts = np.unique(ids, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


RESUME = r"""
import json, os
import numpy as np
import tfner
from pathlib import Path
from transformers import BertConfig, TFBertForMaskedLM
from tests.conftest import write_tiny_encoder
from tests.killing import KillInSecondEpoch as Kill
from tests.test_pretraining import TEXTS

enc = write_tiny_encoder(Path(os.environ["TINY_DIR"]))
config = BertConfig.from_pretrained(enc)  # no dropout: the runs must agree to float precision
config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
config.save_pretrained(enc)
if not (enc / "tf_model.h5").exists():
    model = TFBertForMaskedLM(config)
    model(model.dummy_inputs)
    model.save_pretrained(enc)
result = tfner.pretrain(TEXTS, os.environ["OUT"], encoder=str(enc), held_out=0.25, epochs=3, batch_size=8,
                        learning_rate=5e-3, warmup_ratio=0.5, max_length=32, verbose=1, seed=0, backup_every=1,
                        callbacks=[Kill()] if os.environ.get("KILL") else [])
model = TFBertForMaskedLM.from_pretrained(os.environ["OUT"])
print(json.dumps(dict(epochs=result.epochs, files=sorted(os.listdir(os.environ["OUT"])),
                      weights={v.name: float(np.abs(v.numpy()).sum()) for v in model.weights})))
"""


@pytest.mark.slow
def test_a_pretraining_killed_mid_epoch_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    env = {"TINY_DIR": str(tmp_path / "enc")}
    killed, plain = tmp_path / "killed", tmp_path / "plain"
    crash = subprocess.run([sys.executable, "-c", RESUME], capture_output=True, text=True, cwd=REPO, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **env,
                                "OUT": str(killed), "KILL": "1"})
    assert crash.returncode == -signal.SIGKILL, crash.stderr[-3000:]
    progress = (killed / "backup" / "progress.json").read_text(encoding="utf-8")
    assert '"epoch": 1' in progress and '"step": 2' in progress  # epoch 2's second step: the last backed up
    out = run_python(RESUME, env={**env, "OUT": str(killed)}).stdout
    assert "resuming from" in out and "epoch 2, 2 of" in out
    resumed = json.loads(out.strip().splitlines()[-1])
    clean = json.loads(run_python(RESUME, env={**env, "OUT": str(plain)}).stdout.strip().splitlines()[-1])
    assert len(resumed["epochs"]) == len(clean["epochs"]) == 3  # no epoch lost or counted twice
    assert resumed["epochs"][0]["loss"] == pytest.approx(clean["epochs"][0]["loss"], rel=1e-6)  # kept from process 1
    for a, b in zip(resumed["epochs"], clean["epochs"], strict=True):  # the same masks, order and schedule
        assert a["held_out_loss"] == pytest.approx(b["held_out_loss"], rel=1e-5)
    assert resumed["weights"].keys() == clean["weights"].keys()
    for name, value in clean["weights"].items():
        assert resumed["weights"][name] == pytest.approx(value, rel=1e-5), name
    assert "backup" not in resumed["files"] and "pretraining.json" in resumed["files"]


def test_resuming_a_different_pretraining_is_refused(tmp_path, tiny_with_weights):
    import tensorflow as tf

    class Crash(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise RuntimeError("crash")

    options = dict(encoder=tiny_with_weights, epochs=2, batch_size=8, max_length=32, verbose=0, backup_every=1)
    with pytest.raises(RuntimeError, match="crash"):
        tfner.pretrain(TEXTS, tmp_path, callbacks=[Crash()], **options)
    assert (tmp_path / "backup" / "progress.json").exists()
    with pytest.raises(tfner.ConfigError, match="different pre-training"):
        tfner.pretrain(TEXTS[:-4], tmp_path, **options)
    with pytest.raises(tfner.ConfigError, match="backup_every"):
        tfner.pretrain(TEXTS, tmp_path / "x", **{**options, "backup_every": 0})
