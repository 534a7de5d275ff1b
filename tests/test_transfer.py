"""init_from: a new tagger starts from a saved one; shared labels keep their classifier rows exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import TINY_OPTIONS, TRAIN

# The new data: PER stays, LOC becomes ORG (a label the saved tagger never had).
NEW = [(w, [t.replace("LOC", "ORG") for t in tags]) for w, tags in TRAIN]


def _key(variable) -> str:
    return variable.name.split("/", 1)[1]  # without the model instance's own prefix


class Capture(tf.keras.callbacks.Callback):
    """The weights as training starts (after init_from's copy) and after the first step."""

    def on_train_begin(self, logs=None):
        self.start = [v.numpy() for v in self.model.weights]

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and not hasattr(self, "after"):
            self.after = {_key(v): v.numpy() for v in self.model.weights}


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("saved") / "tagger")


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_shared_labels_keep_their_rows_and_new_ones_train(fitted, saved, tmp_path, head):
    source = fitted
    if head == "crf":  # a CRF source, so its transition scores can carry over too
        source = tfner.fit(TRAIN, encoder=fitted.config_.encoder, verbose=0,
                           **{**TINY_OPTIONS, "epochs": 3, "head": "crf"})
        saved = source.save(tmp_path / "crf-tagger")
    capture = Capture()
    new = tfner.fit(NEW, init_from=str(saved), verbose=0, callbacks=[capture],
                    **{**TINY_OPTIONS, "epochs": 2, "head": head})
    assert new.labels_ == ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert new.transferred_labels_ == ["O", "B-PER", "I-PER"]
    start = dict(zip([_key(v) for v in new.model_.weights], capture.start, strict=True))
    old = {_key(v): v.numpy() for v in source.model_.weights}
    # the encoder: every weight exactly the saved tagger's
    encoder_weights = [n for n in start if n.startswith("bert/")]
    assert len(encoder_weights) > 20
    for name in encoder_weights:
        np.testing.assert_array_equal(start[name], old[name], err_msg=name)
    kernel = next(n for n in start if "classifier" in n and "kernel" in n)
    bias = next(n for n in start if "classifier" in n and "bias" in n)
    for label in ("O", "B-PER", "I-PER"):
        j, i = new.labels_.index(label), source.labels_.index(label)
        np.testing.assert_array_equal(start[kernel][:, j], old[kernel][:, i])
        assert start[bias][j] == old[bias][i]
    # the new labels' rows are fresh, and training moves them
    orgs = [new.labels_.index(t) for t in ("B-ORG", "I-ORG")]
    assert not any(np.allclose(start[kernel][:, j], old[kernel][:, i]) for j in orgs for i in range(len(source.labels_)))
    assert not np.allclose(capture.after[kernel][:, orgs], start[kernel][:, orgs])
    if head == "crf":  # the scores of label pairs both have, exactly; pairs with a new label start at 0
        tkey = next(n for n in start if n.endswith("transitions:0"))
        old[tkey] = tfner.load(saved)._crf_head.transitions.numpy()  # what the saved tagger holds (crf.json)
        shared = ["O", "B-PER", "I-PER"]
        for a in shared:
            for b in shared:
                ja, jb = new.labels_.index(a), new.labels_.index(b)
                ia, ib = source.labels_.index(a), source.labels_.index(b)
                assert start[tkey][ja, jb] == old[tkey][ia, ib], (a, b)
        assert (start[tkey][orgs, :] == 0).all() and (start[tkey][:, orgs] == 0).all()
        assert np.abs(old[tkey]).sum() > 0


def test_init_from_must_be_a_saved_tagger(tmp_path):
    with pytest.raises(tfner.ConfigError, match="neither a tagger saved with Tagger.save"):
        tfner.fit(TRAIN, init_from=str(tmp_path), verbose=0, **TINY_OPTIONS)


class EpochWeights(tf.keras.callbacks.Callback):
    """Every weight as training starts and at each epoch's end."""

    def on_train_begin(self, logs=None):
        self.epochs = [{_key(v): v.numpy() for v in self.model.weights}]

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({_key(v): v.numpy() for v in self.model.weights})


@pytest.mark.parametrize("head,freeze_embeddings", [("softmax", True), ("crf", False)])
def test_the_encoder_stays_fixed_for_the_first_epochs_then_trains(saved, head, freeze_embeddings):
    seen = EpochWeights()
    new = tfner.fit(NEW, init_from=str(saved), freeze_encoder_epochs=1, freeze_embeddings=freeze_embeddings,
                    verbose=0, callbacks=[seen], **{**TINY_OPTIONS, "epochs": 3, "head": head})
    start, first, second = seen.epochs[0], seen.epochs[1], seen.epochs[2]
    body = [n for n in start if n.startswith("bert/")]
    embeddings = [n for n in body if "/embeddings/" in n]
    head_weights = [n for n in start if not n.startswith("bert/")]
    assert len(body) > 20 and embeddings and len(head_weights) == (5 if head == "crf" else 2)  # CRF: transitions, start, end
    for name in body:  # epoch 1: not one encoder weight moves
        np.testing.assert_array_equal(first[name], start[name], err_msg=name)
    for name in head_weights:  # ... while the head trains
        assert not np.allclose(first[name], start[name]), name
    moved = {n for n in body if not np.allclose(second[n], first[n])}
    # an attention key bias adds the same q.b to every key's score: softmax ignores it, its gradient is 0
    # up to rounding (which Adam's normalisation may still turn into a step): not asserted either way
    inert = {n for n in body if n.endswith("/key/bias:0")}
    if freeze_embeddings:  # epoch 2: the encoder trains, its embeddings stay as asked
        assert moved - inert == set(body) - set(embeddings) - inert
    else:
        assert moved - inert == set(body) - inert
    # one schedule over all epochs: the freezing takes no step out of it
    assert int(new.model_.optimizer.iterations.numpy()) == 3 * new.train_stats_["steps_per_epoch"]


def test_freezing_for_every_epoch_is_a_linear_probe(fitted):
    seen = EpochWeights()
    tfner.fit(TRAIN, encoder=fitted.config_.encoder, freeze_encoder_epochs=5, verbose=0, callbacks=[seen],
              **{**TINY_OPTIONS, "epochs": 2})
    body = [n for n in seen.epochs[0] if n.startswith("bert/")]
    assert all(np.array_equal(seen.epochs[-1][n], seen.epochs[0][n]) for n in body)
    assert not np.allclose(seen.epochs[-1]["classifier/kernel:0"], seen.epochs[0]["classifier/kernel:0"])


@pytest.mark.parametrize("older", [False, True], ids=["export", "export-without-config.json"])
def test_init_from_an_export_starts_exactly_as_from_the_saved_tagger(fitted, fitted_export, saved, tmp_path, older):
    version = Path(shutil.copytree(fitted_export, tmp_path / "exports" / "1"))  # fitted.export(tmp_path / "exports")
    if older:  # exports made before tfner wrote the encoder's config: rebuilt from the `encoder` option
        (version / "assets" / "config.json").unlink()
    from_saved, from_export = Capture(), Capture()
    options = {**TINY_OPTIONS, "epochs": 1}
    tfner.fit(NEW, init_from=str(saved), verbose=0, callbacks=[from_saved], **options)
    new = tfner.fit(NEW, init_from=str(tmp_path / "exports"), verbose=0, callbacks=[from_export], **options)
    assert new.transferred_labels_ == ["O", "B-PER", "I-PER"]
    assert len(from_export.start) == len(from_saved.start) > 20
    for a, b in zip(from_export.start, from_saved.start, strict=True):  # every weight as training starts
        np.testing.assert_array_equal(a, b)
    old = {_key(v): v.numpy() for v in fitted.model_.weights}
    start = {_key(v): w for v, w in zip(new.model_.weights, from_export.start, strict=True)}
    body = [n for n in start if n.startswith("bert/")]
    for name in body:  # the export's trained encoder, not a fresh one
        np.testing.assert_array_equal(start[name], old[name], err_msg=name)


def test_init_from_a_folder_that_is_neither_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(tfner.ConfigError, match="neither a tagger saved with Tagger.save"):
        tfner.fit(TRAIN, init_from=str(tmp_path / "empty"), verbose=0, **TINY_OPTIONS)
