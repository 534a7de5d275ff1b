"""The CRF head: its loss against brute force, its training wiring, and decoding in every route."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

import tfner
from tests.conftest import TINY_OPTIONS, reference_spans
from tests.modeling.test_decoding import SPANS_TRAIN
from tfner.data.alignment import IGNORE
from tfner.data.schemes import iob2_violation
from tfner.errors import ConfigError
from tfner.modeling import crf
from tfner.modeling.crf_head import LR_MULTIPLIER, CrfHead, CrfLoss, word_sequences

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
X = IGNORE
# Two windows: labelled positions (first sub-tokens) between ignored ones; gold paths valid under IOB2.
GOLD = np.array([[X, 1, X, 2, 0, X, 3], [X, 4, X, X, X, X, X]], np.int32)  # row 2 starts inside an entity


def random_head(seed):
    rng = np.random.default_rng(seed)
    head = CrfHead(LABELS)
    values = {"labels": LABELS, "transitions": rng.normal(size=(5, 5)).tolist(),
              "start": rng.normal(size=5).tolist(), "end": rng.normal(size=5).tolist()}
    head.set_values(values)
    return head, {k: np.asarray(v) for k, v in values.items() if k != "labels"}


def test_word_sequences_pack_the_labelled_positions():
    logits = np.random.default_rng(0).normal(size=(2, 7, 5)).astype(np.float32)
    emissions, tags, lengths = (t.numpy() for t in word_sequences(GOLD, logits))
    assert lengths.tolist() == [4, 1]
    np.testing.assert_array_equal(emissions[0], logits[0, [1, 3, 4, 6]])
    np.testing.assert_array_equal(emissions[1, 0], logits[1, 1])
    assert (emissions[1, 1:] == 0).all()
    assert tags[0].tolist() == [1, 2, 0, 3] and tags[1, 0] == 4


@pytest.mark.parametrize("seed", range(3))
def test_crf_loss_is_the_brute_force_nll_per_labelled_word(seed):
    head, v = random_head(seed)
    logits = np.random.default_rng(10 + seed).normal(size=(2, 7, 5)).astype(np.float32)
    allowed, _ = crf.iob2_constraints(LABELS)
    total, words = 0.0, 0
    for row in range(2):
        pos = np.nonzero(GOLD[row] != X)[0]
        emit = logits[row, pos]

        def score(path, emit=emit):
            s = v["start"][path[0]] + v["end"][path[-1]] + sum(emit[t, y] for t, y in enumerate(path))
            return s + sum(v["transitions"][a, b] for a, b in itertools.pairwise(path))

        # training windows may start anywhere (a window can begin inside an entity): no start rule
        paths = [p for p in itertools.product(range(5), repeat=len(pos))
                 if all(allowed[a, b] for a, b in itertools.pairwise(p))]
        log_z = np.logaddexp.reduce([score(p) for p in paths])
        total += log_z - score(tuple(GOLD[row, pos]))
        words += len(pos)
    got = float(CrfLoss(head)(GOLD, logits))
    np.testing.assert_allclose(got, total / words, rtol=1e-5)


def test_the_stored_weights_get_the_scores_own_gradient_and_move_faster():
    head, v = random_head(3)
    logits = tf.constant(np.random.default_rng(4).normal(size=(2, 7, 5)), tf.float32)
    with tf.GradientTape() as tape:
        loss = CrfLoss(head)(GOLD, logits)
    got = tape.gradient(loss, [head.transitions, head.start, head.end])
    # second route: the same loss written directly on the scores
    scores = [tf.Variable(v[k], dtype=tf.float32) for k in ("transitions", "start", "end")]
    allowed, may_start = crf.iob2_constraints(LABELS)
    with tf.GradientTape() as tape:
        emissions, tags, lengths = word_sequences(GOLD, logits)
        t, s = crf.constrain(scores[0], scores[1], allowed, np.ones_like(may_start))
        direct = tf.reduce_sum(crf.negative_log_likelihood(emissions, tags, lengths, t, s, scores[2])) / 5.0
    want = tape.gradient(direct, scores)
    np.testing.assert_allclose(float(loss), float(direct), rtol=1e-5)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-4, atol=1e-6)
    # a stored weight counts LR_MULTIPLIER times in the scores
    np.testing.assert_allclose(head.transitions.numpy() * LR_MULTIPLIER, v["transitions"], rtol=1e-5)


def test_config_refuses_a_crf_with_every_sub_token_labelled_and_unknown_heads():
    with pytest.raises(ConfigError, match="label_all_subtokens"):
        tfner.TaggerConfig(head="crf", label_all_subtokens=True)
    with pytest.raises(ConfigError, match="head must be"):
        tfner.TaggerConfig(head="lstm")


def viterbi_by_hand(log_probs, transitions, start, end):
    """Plain-numpy Viterbi (a second route to the decoder's)."""
    n = len(log_probs)
    delta, back = start + log_probs[0], []
    for t in range(1, n):
        cand = delta[:, None] + transitions
        back.append(cand.argmax(0))
        delta = cand.max(0) + log_probs[t]
    path = [int((delta + end).argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1]


@pytest.fixture(scope="module")
def crf_tagger(tiny_encoder):
    return tfner.fit(SPANS_TRAIN, SPANS_TRAIN[:2], encoder=tiny_encoder, verbose=0,
                     **{**TINY_OPTIONS, "epochs": 4, "head": "crf"})


def test_the_crf_head_trains_with_the_model(crf_tagger):
    names = [v.name for v in crf_tagger.model_.trainable_variables]
    assert sum("crf_head" in n for n in names) == 3
    values = crf_tagger._crf_head.get_values()
    assert np.abs(values["transitions"]).max() > 0.05, "the transitions never left zero"
    loss = crf_tagger.history_["loss"]
    assert loss[-1] < loss[0]


def test_crf_tags_are_viterbi_over_learned_and_forbidden_transitions(crf_tagger):
    sentences = [w for w, _ in SPANS_TRAIN[:2]] + [["Rome", "Alice", "to", "Bob", "Bob", "London", "acme"]]
    tags = crf_tagger.predict_tags(sentences)
    values = crf_tagger._crf_head.get_values()
    allowed, may_start = crf.iob2_constraints(crf_tagger.labels_)
    trans = np.where(allowed, np.asarray(values["transitions"]), -np.inf)
    start = np.where(may_start, np.asarray(values["start"]), -np.inf)
    for words, got in zip(sentences, tags, strict=True):
        assert iob2_violation(got) is None
        word_probs = word_probabilities(crf_tagger, words)
        want = viterbi_by_hand(np.log(word_probs), trans, start, np.asarray(values["end"]))
        assert got == [crf_tagger.labels_[i] for i in want]


def word_probabilities(tagger, words):
    from tfner.data import alignment, pipeline

    windows = alignment.encode(tagger.tokenizer_, [words], None, None, max_length=32, overlap=4)
    assert len(windows) == 1
    batch = pipeline.pad_batch(windows, tagger.tokenizer_.pad_token_id)
    logits = tagger.model_(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[0].numpy()
    first = windows[0].word_index >= 0
    z = logits[first]
    return np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)


def test_crf_decoding_is_the_same_in_graph_in_python_in_the_export_and_after_save(crf_tagger, tmp_path):
    # export() checks the signatures against TF Serving 2.14's op set: the in-graph Viterbi is servable
    texts = ["Alice Bob Carol Rome Paris London to Bob", "Carol met Bob in Rome !", "acme acme Alice", ""]
    graph = crf_tagger.predict(texts)
    assert any(graph)
    for text, row in zip(texts, graph, strict=True):
        want = reference_spans(crf_tagger, text)
        assert [(s.start, s.end, s.label) for s in row] == [w[:3] for w in want]
    split = [t.split() for t in texts if t]
    served = tfner.load(crf_tagger.export(tmp_path / "sm"))
    assert served.predict(texts) == graph
    assert served.predict_tags(split) == crf_tagger.predict_tags(split)
    saved = tfner.load(crf_tagger.save(tmp_path / "saved"))
    assert saved._crf_head.get_values() == crf_tagger._crf_head.get_values()
    assert saved.predict(texts) == graph
