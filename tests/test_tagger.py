"""The estimator contract, predict's character offsets, TensorBoard logs, and bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN


def test_fit_returns_self_and_learns_the_toy_task(fitted):
    assert isinstance(fitted, tfner.Tagger)
    assert fitted.labels_ == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert fitted.history_["loss"][-1] < 0.3 * fitted.history_["loss"][0]
    assert fitted.predict_tags([w for w, _ in DEV]) == [t for _, t in DEV]
    ev = fitted.evaluate(DEV)
    assert ev.f1 == 1.0 and ev.per_type_f1() == {"LOC": 1.0, "PER": 1.0}


def test_predict_spans_have_character_offsets_into_the_raw_text(fitted):
    texts = ["  Alice   flew to\tParis!", "Bob went to London.", "Carol met Bob in Rome", "", "   "]
    spans = fitted.predict(texts)
    expected = [
        [tfner.Span(2, 7, "PER"), tfner.Span(18, 23, "LOC")],
        [tfner.Span(0, 3, "PER"), tfner.Span(12, 18, "LOC")],
        [tfner.Span(0, 5, "PER"), tfner.Span(10, 13, "PER"), tfner.Span(17, 21, "LOC")],
        [],
        [],
    ]
    assert [[(s.start, s.end, s.label) for s in row] for row in spans] == [
        [(s.start, s.end, s.label) for s in row] for row in expected
    ]
    for text, row in zip(texts, spans):
        for span in row:
            assert span.text == text[span.start:span.end]
            assert 0.0 < span.score <= 1.0


def test_predict_does_not_mutate_its_input_and_returns_new_objects(fitted):
    texts = ["Alice flew to Paris"]
    before = copy.deepcopy(texts)
    first, second = fitted.predict(texts), fitted.predict(texts)
    assert texts == before and first == second and first is not second


def test_long_text_is_windowed_and_every_word_gets_a_tag(fitted):
    # max_length=32 in the tiny config: this text needs several windows.
    # The training sentences one after another, as one 88-word "sentence" (~3 windows).
    words = [w for ws, _ in TRAIN[:4] * 4 for w in ws]
    expected = [t for _, ts in TRAIN[:4] * 4 for t in ts]
    from tfner import alignment

    windows = alignment.encode(fitted.tokenizer_, [words], None, None, max_length=32, overlap=4)
    assert len(windows) >= 3
    tags = fitted.predict_tags([words])[0]
    assert len(tags) == len(words)
    # Context crosses sentence boundaries here, so allow the toy model a few slips.
    accuracy = sum(t == e for t, e in zip(tags, expected)) / len(words)
    assert accuracy >= 0.9, list(zip(words, tags, expected))


def test_predict_before_fit_raises_not_fitted():
    tagger = tfner.Tagger(epochs=1)
    with pytest.raises(tfner.NotFittedError, match="not fitted"):
        tagger.predict(["Alice"])
    with pytest.raises(tfner.NotFittedError):
        tagger.export("saved_models/x")


def test_init_only_stores():
    tagger = tfner.Tagger(epochs=7, not_an_option=1)  # validated by fit, not __init__
    assert tagger.options == {"epochs": 7, "not_an_option": 1}
    with pytest.raises(tfner.ConfigError, match="not_an_option"):
        tagger.fit(TRAIN)


def test_unknown_option_is_rejected_before_any_work():
    with pytest.raises(tfner.ConfigError, match="did you mean 'epochs'"):
        tfner.fit(TRAIN, epoch=3)


def test_bad_training_data_names_file_and_line(tmp_path, tiny_encoder):
    bad = tmp_path / "train.conll"
    bad.write_text("Alice B-PER\nflew O\n\nParis\n")
    with pytest.raises(tfner.DataFormatError, match=rf"{bad}:4: expected a word and a tag"):
        tfner.fit(str(bad), encoder=tiny_encoder, **TINY_OPTIONS)
    with pytest.raises(tfner.DataFormatError, match=r"train\[1\]: 2 words but 1 tags"):
        tfner.fit([(["a"], ["O"]), (["a", "b"], ["O"])], encoder=tiny_encoder, **TINY_OPTIONS)
    with pytest.raises(tfner.DataFormatError, match="no sentences"):
        tfner.fit([], encoder=tiny_encoder, **TINY_OPTIONS)


def test_predict_rejects_a_bare_string(fitted):
    with pytest.raises(tfner.DataFormatError, match="list of strings"):
        fitted.predict("Alice flew to Paris")


def test_missing_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(tfner.EncoderError):
        tfner.fit(TRAIN, encoder=str(tmp_path), **TINY_OPTIONS)


def test_tensorboard_logdir_has_losses_learning_rate_and_dev_f1_per_type(fitted):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = Path(fitted.test_logdir)

    def tags_of(run: str) -> dict[str, list[float]]:
        acc = EventAccumulator(str(logdir / run), size_guidance={"tensors": 0})
        acc.Reload()
        import tensorflow as tf

        return {t: [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(t)] for t in acc.Tags()["tensors"]}

    train, validation = tags_of("train"), tags_of("validation")
    epochs = fitted.config_.epochs
    assert len(train["epoch_loss"]) == epochs and len(train["epoch_learning_rate"]) == epochs
    assert len(validation["epoch_loss"]) == epochs
    for name in ("epoch_entity_f1", "epoch_f1_LOC", "epoch_f1_PER"):
        assert len(validation[name]) == epochs
    assert validation["epoch_entity_f1"] == pytest.approx(fitted.history_["val_entity_f1"])
    # Linear decay to zero at the last step.
    assert train["epoch_learning_rate"][-1] == pytest.approx(0.0, abs=1e-9)
    assert train["epoch_learning_rate"][0] > train["epoch_learning_rate"][-2] > 0
