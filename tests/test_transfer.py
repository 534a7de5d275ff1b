"""init_from: a new tagger starts from a saved one; shared labels keep their classifier rows exactly."""

from __future__ import annotations

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
        source = tfner.fit(TRAIN, encoder=fitted.config_.encoder, head="crf", verbose=0,
                           **{**TINY_OPTIONS, "epochs": 3})
        saved = source.save(tmp_path / "crf-tagger")
    capture = Capture()
    new = tfner.fit(NEW, init_from=str(saved), head=head, verbose=0, callbacks=[capture],
                    **{**TINY_OPTIONS, "epochs": 2})
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
    with pytest.raises(tfner.ConfigError, match="not a tagger saved with Tagger.save"):
        tfner.fit(TRAIN, init_from=str(tmp_path), verbose=0, **TINY_OPTIONS)
