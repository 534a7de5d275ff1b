"""Domain-adaptive pre-training: the masked-LM loss falls, and fit takes the encoder it saves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfner
from tests.conftest import TINY_OPTIONS, TRAIN, write_tiny_encoder
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


def test_a_finished_pretraining_is_not_trained_over_unless_overwrite(pretrained, tmp_path, tiny_with_weights):
    out = Path(pretrained.output_dir)
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(tfner.ConfigError, match=r"holds a finished pre-training .* overwrite=True"):
        tfner.pretrain(TEXTS, out, encoder=tiny_with_weights, epochs=1, verbose=0)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files  # kept byte for byte
    options = dict(encoder=tiny_with_weights, batch_size=8, max_length=32, verbose=0)
    tfner.pretrain(TEXTS, tmp_path, epochs=1, **options)
    again = tfner.pretrain(TEXTS, tmp_path, epochs=2, overwrite=True, **options)  # trains afresh, replaces it
    assert len(again.epochs) == 2
    assert len(json.loads((tmp_path / "pretraining.json").read_text(encoding="utf-8"))["epochs"]) == 2


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


def test_windows_longer_than_the_encoders_positions_are_refused_before_anything(tmp_path, tiny_with_weights):
    # review: max_length=512 on an encoder of 128 positions failed inside TensorFlow once a long text came
    with pytest.raises(tfner.EncoderError, match="max_length=512 exceeds the 128 positions"):
        tfner.pretrain(tmp_path / "never-read.txt", tmp_path / "out", encoder=tiny_with_weights, max_length=512,
                       verbose=0)
    assert not (tmp_path / "out").exists()
