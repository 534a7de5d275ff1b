"""Word decoding: argmax, and the best IOB2-valid sequence (checked by brute force and end to end)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import tfner
from tests.conftest import TINY_OPTIONS, TRAIN, reference_spans
from tfner.data.schemes import iob2_violation
from tfner.modeling import crf
from tfner.modeling.decoding import WordDecoder

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def random_probs(seed, seqs=6, words=5):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(seqs, words, len(LABELS))) * 2
    logits[..., 2] += 1.5  # I-PER tempting, also where IOB2 forbids it
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    lengths = np.array([words, words, 3, 2, 1, 0][:seqs], np.int32)
    return probs.astype(np.float32), lengths


@pytest.mark.parametrize("route", ["call", "decode"])  # in a graph (the export) / traced for eager callers
@pytest.mark.parametrize("seed", range(4))
def test_constrained_is_the_most_probable_valid_sequence(seed, route):
    probs, lengths = random_probs(seed, words=5 - seed % 2)  # two lengths: one trace serves both
    allowed, may_start = crf.iob2_constraints(LABELS)
    decoder = WordDecoder(LABELS, "constrained")
    ids, scores = (t.numpy() for t in (decoder if route == "call" else decoder.decode)(probs, lengths))
    for b, n in enumerate(lengths):
        best, best_p = (), -1.0
        for path in itertools.product(range(len(LABELS)), repeat=int(n)):
            if path and (not may_start[path[0]] or not all(allowed[a, c] for a, c in itertools.pairwise(path))):
                continue
            p = float(np.prod([probs[b, t, y] for t, y in enumerate(path)]))
            if p > best_p:
                best, best_p = path, p
        assert tuple(ids[b, :n]) == best
        np.testing.assert_allclose(scores[b, :n], [probs[b, t, y] for t, y in enumerate(best)], rtol=1e-6)
        assert iob2_violation([LABELS[i] for i in ids[b, :n]]) is None


def test_argmax_is_per_word():
    probs, lengths = random_probs(9)
    ids, scores = (t.numpy() for t in WordDecoder(LABELS, "argmax")(probs, lengths))
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(ids[b, :n], probs[b, :n].argmax(-1))
        np.testing.assert_allclose(scores[b, :n], probs[b, :n].max(-1))
        assert (ids[b, n:] == 0).all() and (scores[b, n:] == 0).all()


# multi-word entities, so the label set has I- tags and invalid sequences are possible
SPANS_TRAIN = [
    (["Alice", "Bob", "flew", "to", "London", "Rome"], ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]),
    (["Carol", "went", "to", "Paris", "Rome", "with", "Bob", "Alice"],
     ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-PER", "I-PER"]),
] * 8


@pytest.fixture(scope="module")
def constrained(tiny_encoder):
    # barely trained, so a per-word argmax still produces invalid sequences
    options = {**TINY_OPTIONS, "epochs": 1, "decode": "constrained"}
    return tfner.fit(SPANS_TRAIN, SPANS_TRAIN[:2], encoder=tiny_encoder, verbose=0, **options)


def test_a_constrained_tagger_never_predicts_an_invalid_sequence(constrained):
    sentences = [w for w, _ in TRAIN[:4] + SPANS_TRAIN[:2]] + [
        ["Alice", "Bob", "Carol", "Rome", "Paris", "London", "to", "Bob", "with", "acme", "Rome", "in"]]
    as_argmax = copy.copy(constrained)
    as_argmax.config_ = constrained.config_.replace(decode="argmax")
    argmax_tags = as_argmax.predict_tags(sentences)
    assert any(iob2_violation(t) is not None for t in argmax_tags), "the test needs invalid argmax output"
    for tags in constrained.predict_tags(sentences):
        assert iob2_violation(tags) is None


def test_constrained_decoding_is_the_same_in_graph_in_python_and_in_the_export(constrained, tmp_path):
    texts = ["Alice Bob Carol Rome Paris London to Bob", "Carol met Bob in Rome !", "acme acme Alice"]
    graph = constrained.predict(texts)
    for text, row in zip(texts, graph, strict=True):
        want = reference_spans(constrained, text)  # Python words route with the same decoder
        assert [(s.start, s.end, s.label) for s in row] == [w[:3] for w in want]
        np.testing.assert_allclose([s.score for s in row], [w[3] for w in want], atol=1e-4)
    served = tfner.load(constrained.export(tmp_path / "sm"))
    assert served.predict(texts) == graph
    assert served.predict_tags([t.split() for t in texts]) == constrained.predict_tags([t.split() for t in texts])


def test_eager_decoding_traces_once_for_any_batch_and_length():
    from tfner.modeling import decoding

    decoder = WordDecoder(LABELS, "constrained")
    decoder.decode(*random_probs(0))
    traced = decoding._traced_best_paths.experimental_get_tracing_count()
    for seqs, words in ((3, 7), (6, 2), (1, 9)):
        ids, _ = decoder.decode(*random_probs(1, seqs, words))
        assert ids.shape == (seqs, words)
    assert decoding._traced_best_paths.experimental_get_tracing_count() == traced
