"""Prediction batches windows (and texts) sorted by length; what comes back is in the caller's order.

Each input is also tagged on its own, a batch of one, so the sorted, batched route is checked
against a route with no batching to get wrong.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.conftest import WHOLE_WORDS
from tfner.tagging.prediction import PREDICT_BATCH


def mixed_sentences(n: int, seed: int) -> list[list[str]]:
    """``n`` sentences of very different lengths (1 to 40 words), in no order of length."""
    rng = random.Random(seed)
    words = [w.capitalize() if rng.random() < 0.3 else w for w in WHOLE_WORDS]
    return [[rng.choice(words) for _ in range(rng.choice([1, 2, 5, 9, 17, 40]))] for _ in range(n)]


def test_predict_tags_in_batches_equal_each_sentence_alone_in_the_input_order(fitted):
    sentences = mixed_sentences(PREDICT_BATCH + 37, seed=3)  # two batches; longest and shortest interleaved
    assert sorted(sentences, key=len) != sentences
    batched = fitted.predict_tags(sentences)
    assert [len(t) for t in batched] == [len(s) for s in sentences]
    assert batched == [fitted.predict_tags([s])[0] for s in sentences]
    _, scores = fitted._tag_words(sentences)  # the word scores behind the tags, in the same order
    for s, row in zip(sentences, scores, strict=True):
        np.testing.assert_allclose(row, fitted._tag_words([s])[1][0], atol=1e-5)


def test_predict_returns_each_texts_spans_in_the_input_order(fitted):
    texts = [" ".join(s) + " ." for s in mixed_sentences(PREDICT_BATCH + 11, seed=4)]
    batched = fitted.predict(texts)
    order = random.Random(5).sample(range(len(texts)), len(texts))
    shuffled = fitted.predict([texts[i] for i in order])
    assert [shuffled[order.index(i)] for i in range(len(texts))] == batched  # the same batches, another order
    sample = range(0, len(texts), 5)  # and a batch of one for every fifth text
    alone = [fitted.predict([texts[i]])[0] for i in sample]
    assert [[(e.start, e.end, e.label) for e in batched[i]] for i in sample] == \
        [[(e.start, e.end, e.label) for e in spans] for spans in alone]
    for spans, single in zip([batched[i] for i in sample], alone, strict=True):  # padding moves the last float bits
        assert [e.score for e in spans] == pytest.approx([e.score for e in single], abs=1e-5)
    assert any(batched)  # some entities were found, so the comparison compares something



def test_prediction_windows_overlap_by_predict_overlap(fitted, monkeypatch):
    import dataclasses

    from tfner import Tagger
    from tfner.data import alignment

    def tagger_with(**changes) -> Tagger:
        state = fitted._check_fitted()
        tagger = Tagger()
        tagger._take(dataclasses.replace(state, config=state.config.replace(**changes)))
        return tagger

    seen: list[int] = []
    encode = alignment.encode

    def spy(*args, **kwargs):
        seen.append(kwargs["overlap"])
        return encode(*args, **kwargs)

    monkeypatch.setattr(alignment, "encode", spy)
    long = [s for s in mixed_sentences(40, seed=5) if len(s) >= 17]
    assert max(map(len, long)) == 40  # longer than a window of 32 sub-tokens: cut into overlapping windows
    wide = tagger_with(predict_overlap=12)  # trained with window_overlap=4
    assert wide.predict_tags(long) == tagger_with(window_overlap=12).predict_tags(long)
    assert seen == [12, 12]
    assert fitted.config_.predict_windowing == fitted.config_.windowing  # None: the training overlap
