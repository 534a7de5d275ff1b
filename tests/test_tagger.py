"""The estimator contract, predict's character offsets, TensorBoard logs, and bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
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


def test_train_stats_count_real_tokens_and_training_time(fitted):
    from tfner.data import alignment

    stats = fitted.train_stats_
    l2i = {t: i for i, t in enumerate(fitted.labels_)}
    wins = alignment.encode(fitted.tokenizer_, [w for w, _ in TRAIN], [t for _, t in TRAIN], l2i,
                            max_length=32, overlap=4)
    assert stats["tokens_per_epoch"] == sum(w.length for w in wins)  # non-padding sub-tokens, [CLS]/[SEP] included
    assert stats["labelled_tokens_per_epoch"] == sum(len(w) for w, _ in TRAIN)  # one label per word
    assert 0 < stats["seconds"] < stats["fit_seconds"]  # training steps only, without dev scoring


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
    for text, row in zip(texts, spans, strict=True):
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
    from tfner.data import alignment

    windows = alignment.encode(fitted.tokenizer_, [words], None, None, max_length=32, overlap=4)
    assert len(windows) >= 3
    tags = fitted.predict_tags([words])[0]
    assert len(tags) == len(words)
    # Context crosses sentence boundaries here, so allow the toy model a few slips.
    accuracy = sum(t == e for t, e in zip(tags, expected, strict=True)) / len(words)
    assert accuracy >= 0.9, list(zip(words, tags, expected, strict=True))


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


def test_dev_loss_false_skips_kerass_dev_pass_and_changes_nothing_else(tiny_encoder):
    import tensorflow as tf

    class DevPasses(tf.keras.callbacks.Callback):
        """Counts Keras' evaluation passes (validation_data) during fit."""

        def __init__(self):
            super().__init__()
            self.count = 0

        def on_test_begin(self, logs=None):
            self.count += 1

        def on_epoch_end(self, epoch, logs=None):
            self.logs = dict(logs)

    runs, seen_logs = {}, {}
    for dev_loss in (True, False):
        passes = DevPasses()
        tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, callbacks=[passes], dev_loss=dev_loss,
                           **{**TINY_OPTIONS, "epochs": 3})
        runs[dev_loss] = tagger, passes.count
        seen_logs[dev_loss] = passes.logs
    (both, with_passes), (once, without_passes) = runs[True], runs[False]
    assert with_passes == 3 and without_passes == 0  # one Keras pass over dev a round, or none
    # a user's callback runs after tfner's dev scoring: it can watch val_entity_f1 (and val_loss when asked)
    for dev_loss, (tagger, _) in runs.items():
        seen = seen_logs[dev_loss]
        assert seen["val_entity_f1"] == pytest.approx(tagger.history_["val_entity_f1"][-1])
        assert "learning_rate" in seen and ("val_loss" in seen) is dev_loss
    assert len(both.history_["val_loss"]) == 3 and "val_loss" not in once.history_
    # the same training and the same dev scores by tfner's own pass
    assert once.history_["loss"] == pytest.approx(both.history_["loss"], rel=1e-6)
    assert [e.f1 for e in once.dev_evaluations_] == [e.f1 for e in both.dev_evaluations_]
    assert once.history_["val_entity_f1"] == pytest.approx(both.history_["val_entity_f1"])
    for a, b in zip(once.model_.get_weights(), both.model_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(tfner.ConfigError, match="dev_loss must be True or False"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, dev_loss="no", **TINY_OPTIONS)


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
    with pytest.raises(tfner.DataFormatError, match="word lists"):
        fitted.predict_tags("Alice flew to Paris")
    with pytest.raises(tfner.DataFormatError, match=r"sentences\[0\]"):
        fitted.predict_tags(["Alice flew to Paris"])
    with pytest.raises(tfner.DataFormatError, match=r"sentences\[1\]"):
        fitted.predict_tags([["Alice"], ["flew", None]])
    for bad in (None, 5):  # not iterable: tfner's error, not Python's TypeError
        with pytest.raises(tfner.DataFormatError, match="list of strings"):
            fitted.predict(bad)
    texts = ["Alice"] * 300  # the first non-string is named, as predict_tags names its sentence
    texts[217] = None
    with pytest.raises(tfner.DataFormatError, match=r"texts\[217\]: each text must be a string, got NoneType"):
        fitted.predict(texts)
        with pytest.raises(tfner.DataFormatError, match="word lists"):
            fitted.predict_tags(bad)


class LabelIndexed:
    """A sequence whose ``[key]`` looks up a label, not a position, as a pandas Series after sort or filter."""

    def __init__(self, items, labels):
        self.items, self.labels = list(items), list(labels)

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, label):
        return self.items[self.labels.index(label)]


def test_predict_reads_texts_and_words_in_iteration_order(fitted):
    texts = ["Bob", "In Rome Bob met Carol", "Alice flew to Paris"]
    want = fitted.predict(texts)
    assert fitted.predict(LabelIndexed(texts, [2, 1, 0])) == want  # before: each text got another text's spans
    assert fitted.predict(t for t in texts) == want  # a generator (before: TypeError)
    words = [["Alice", "flew", "to", "Paris"], ["Bob", "met", "Carol"]]
    # an iterator of words was used up by the check: no word tagged, silently
    assert fitted.predict_tags([iter(w) for w in words]) == fitted.predict_tags(words)
    assert [len(t) for t in fitted.predict_tags(iter(words))] == [4, 3]


def test_evaluate_on_data_without_entities(fitted):
    ev = fitted.evaluate([(["flew", "to"], ["O", "O"])])
    pred = fitted.predict_tags([["flew", "to"]])[0]
    assert ev.tokens["accuracy"] == sum(p == "O" for p in pred) / 2
    assert ev.f1 == 0.0  # no gold entity: nothing can be recalled (zero-division convention)
    with pytest.raises(tfner.ConfigError):
        fitted.evaluate(DEV, mode="lenient")


def test_max_length_beyond_the_encoders_positions_is_a_clear_error(tiny_encoder):
    # The tiny encoder has 128 positions.
    with pytest.raises(tfner.EncoderError, match="128 positions"):
        tfner.fit(TRAIN, encoder=tiny_encoder, **dict(TINY_OPTIONS, max_length=256))


def test_weights_that_do_not_fit_the_encoder_are_rejected(tiny_encoder, tmp_path):
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    bad = tmp_path / "enc"
    shutil.copytree(tiny_encoder, bad)
    save_file({"something.else.weight": np.zeros((2, 2), np.float32)}, str(bad / "model.safetensors"))
    with pytest.raises(tfner.EncoderError, match="does not fit a BERT encoder"):
        tfner.fit(TRAIN, encoder=str(bad), **dict(TINY_OPTIONS, pretrained=True))


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

        scalars = [t for t in acc.Tags()["tensors"] if t.startswith("epoch_")]  # not the text and image summaries
        return {t: [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(t)] for t in scalars}

    train, validation = tags_of("train"), tags_of("validation")
    epochs = fitted.config_.epochs
    assert len(train["epoch_loss"]) == epochs and len(train["epoch_learning_rate"]) == epochs
    assert len(validation["epoch_loss"]) == epochs
    for name in ("epoch_entity_f1", "epoch_f1_LOC", "epoch_f1_PER"):
        assert len(validation[name]) == epochs
    assert validation["epoch_entity_f1"] == pytest.approx(fitted.history_["val_entity_f1"])
    assert train["epoch_learning_rate"] == pytest.approx(fitted.history_["learning_rate"])
    # throughput per epoch: real tokens over that epoch's training-step time, whose sum is train_stats_' seconds
    rates = train["epoch_real_tokens_per_s"]
    assert rates == pytest.approx(fitted.history_["real_tokens_per_s"])
    tokens = fitted.train_stats_["tokens_per_epoch"]
    assert sum(tokens / r for r in rates) == pytest.approx(fitted.train_stats_["seconds"], rel=1e-4)
    assert [tokens / r for r in rates] == pytest.approx(fitted.train_stats_["epoch_seconds"], rel=1e-4)


def test_learning_rate_decays_linearly_to_zero_over_the_real_number_of_steps(fitted):
    cfg, steps = fitted.config_, fitted.train_stats_["steps_per_epoch"]
    total = cfg.epochs * steps
    # The optimizer really took as many steps as the schedule was built for.
    assert int(fitted.model_.optimizer.iterations.numpy()) == total
    # warmup_ratio=0: after epoch e the next step's rate is peak * (total - (e+1)*steps) / total.
    expected = [cfg.learning_rate * (total - (e + 1) * steps) / total for e in range(cfg.epochs)]
    assert fitted.history_["learning_rate"] == pytest.approx(expected, rel=1e-5, abs=1e-12)
    assert fitted.history_["learning_rate"][-1] == 0.0


@pytest.mark.slow
def test_reading_and_scoring_do_not_import_tensorflow():
    from tests.conftest import run_python

    out = run_python(
        "import sys, tfner, tfner.data, tfner.data.words, tfner.data.readers, tfner.data.alignment\n"
        "import tfner.data.schemes, tfner.data.spans, tfner.data.datasets, tfner.config, tfner.metrics\n"
        "tfner.read_conll  # light names are there at once\n"
        "print('tensorflow' in sys.modules)\n"
        "tfner.fit  # the estimator comes on first use\n"
        "print('tensorflow' in sys.modules, __import__('os').environ['TF_USE_LEGACY_KERAS'])"
    )
    assert out.stdout.split() == ["False", "True", "1"]


def test_freeze_embeddings_keeps_the_embedding_layer_and_trains_the_rest(tiny_encoder):
    from tfner.modeling import encoder

    options = {**TINY_OPTIONS, "epochs": 2, "freeze_embeddings": True}
    tagger = tfner.fit(TRAIN, encoder=tiny_encoder, verbose=0, **options)
    # the same seed builds the same initial weights: compare the trained model with them
    start = encoder.build_model(tiny_encoder, len(tagger.labels_), pretrained=False, seed=options["seed"])
    initial = {v.name.split("/", 1)[1]: v for v in start.weights}  # names past the model's own
    pairs = [(v, initial[v.name.split("/", 1)[1]]) for v in tagger.model_.weights]
    frozen = [(v, w) for v, w in pairs if "/embeddings/" in v.name]
    assert len(frozen) >= 3 and all(np.array_equal(v.numpy(), w.numpy()) for v, w in frozen)
    moved = [v for v, w in pairs if "/embeddings/" not in v.name and not np.array_equal(v.numpy(), w.numpy())]
    assert len(moved) > 10  # encoder layers and the classifier trained


def test_warm_up_steps_round_up_as_hugging_face_does(tiny_encoder):
    # 100 steps (100 sentences, batch 1, one epoch) at warmup_ratio 0.29: 0.29 * 100 is
    # 28.999... in floating point, and Hugging Face's ceil gives 29 warm-up steps
    assert 0.29 * 100 < 29
    options = {**TINY_OPTIONS, "epochs": 1, "batch_size": 1, "warmup_ratio": 0.29}
    tagger = tfner.fit((TRAIN * 4)[:100], encoder=tiny_encoder, verbose=0, **options)
    stats = tagger.train_stats_
    assert stats["total_steps"] == 100 and stats["warmup_steps"] == 29


def test_a_failed_fit_leaves_nothing_of_its_run(tiny_encoder, monkeypatch, tmp_path):
    from tfner.training.callbacks import DevEvaluation

    tagger = tfner.Tagger(encoder=tiny_encoder, verbose=0, **{**TINY_OPTIONS, "epochs": 2})
    tagger.fit(TRAIN, DEV)
    before = tagger.predict_tags([["Alice", "met", "Bob"]])
    # refused options or data leave the earlier fit untouched
    tagger.dev_loss = "no"
    with pytest.raises(tfner.ConfigError, match="dev_loss"):
        tagger.fit(TRAIN, DEV)
    tagger.dev_loss = True
    with pytest.raises(tfner.DataNotFoundError):
        tagger.fit(tmp_path / "missing.conll", DEV)
    assert tagger.predict_tags([["Alice", "met", "Bob"]]) == before

    def broken(self, epoch, logs=None):
        raise RuntimeError("dev scoring broke")

    monkeypatch.setattr(DevEvaluation, "on_epoch_end", broken)
    with pytest.raises(RuntimeError, match="dev scoring broke"):
        tagger.fit(TRAIN, DEV)
    left = [name for name in vars(tagger) if name.endswith("_")]
    assert left == [], f"a failed fit left {left}"
    with pytest.raises(tfner.NotFittedError):
        tagger.predict_tags([["Alice"]])


def test_patience_needs_dev_data(tiny_encoder):
    with pytest.raises(tfner.ConfigError, match="dev"):
        tfner.fit(TRAIN, encoder=tiny_encoder, verbose=0, patience=2, **TINY_OPTIONS)


def test_an_entity_type_train_never_has_is_named_with_file_and_line(tiny_encoder, tmp_path):
    dev = tmp_path / "dev.conll"
    dev.write_text("Alice B-PER\nflew O\n\nAcme B-ORG\nhires O\nBob B-PER\n", encoding="utf-8")
    options = {**TINY_OPTIONS, "epochs": 1}
    with pytest.raises(tfner.DataFormatError, match=r"dev\.conll:4: .*'ORG'"):
        tfner.fit(TRAIN, str(dev), encoder=tiny_encoder, verbose=0, **options)
    with pytest.warns(UserWarning, match="1 tag"):
        tagger = tfner.fit(TRAIN, str(dev), encoder=tiny_encoder, verbose=0, unseen_labels="outside", **options)
    assert "B-ORG" not in tagger.labels_  # the label set comes from train alone
    with pytest.raises(tfner.DataFormatError, match=r"data\[0\], word 1: .*'ORG'"):
        tagger.config_ = tagger.config_.replace(unseen_labels="error")
        tagger.evaluate([(["Bob", "Acme"], ["B-PER", "B-ORG"])])


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_no_word_is_lost_on_a_whole_corpus(fitted, split):
    # WNUT-17 ships with tfner: every sentence gets exactly one tag per word, however long or odd
    from tfner.data.datasets import wnut17_path

    sentences = tfner.read_conll(wnut17_path(split))
    tags = fitted.predict_tags([s.words for s in sentences])
    assert len(tags) == len(sentences)
    assert [len(t) for t in tags] == [len(s.words) for s in sentences]
    assert all(t in fitted.labels_ for row in tags for t in row)


def test_plot_history_draws_every_epoch(fitted, tmp_path):
    import matplotlib.image

    fig = fitted.plot_history(tmp_path / "history.png")
    loss_ax, f1_ax = fig.axes
    assert len(loss_ax.lines[0].get_xdata()) == fitted.config_.epochs
    assert loss_ax.get_xlabel() == f1_ax.get_xlabel() == "epoch"  # epochs= given: dev after each epoch
    assert {line.get_label() for line in f1_ax.lines} == {"all entities", "LOC", "PER"}
    assert list(f1_ax.lines[0].get_ydata()) in [fitted.history_[k] for k in fitted.history_ if "f1" in k]
    image = matplotlib.image.imread(tmp_path / "history.png")
    assert image.shape[0] > 200 and image.shape[1] > 500
